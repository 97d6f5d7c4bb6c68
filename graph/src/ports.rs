//! The rules of ports and arcs, as the runtime checks them when a graph is
//! built by hand (`GraphBuilder`) and when a live update is checked (`Draft`,
//! over the instances it touches only). `graph!` leaves them to rustc, which
//! checks the generated code at the user's tokens.
//!
//! Components are seen through their port names, in declaration order, and
//! packet types through `PartialEq` and a name, so the runtime passes its
//! port metadata without converting it.

use crate::{GraphError, Side};

/// The names, owned, for an error.
fn owned<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    names.into_iter().map(str::to_owned).collect()
}

/// The index of port `port` among `ports` (the names of the `side` ports of
/// `instance`'s `component`, in declaration order), or
/// [`GraphError::NoSuchPort`] listing them, for `arc`.
///
/// Called by the runtime's `Draft` for each end of an arc an update
/// connects, and for each arc of an instance it replaces (whose new version
/// may lack the port).
pub fn find_port<'a>(
    arc: &str,
    side: Side,
    (instance, port): (&str, &str),
    component: &str,
    ports: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<usize, GraphError> {
    ports
        .clone()
        .into_iter()
        .position(|p| p == port)
        .ok_or_else(|| GraphError::NoSuchPort {
            arc: arc.to_owned(),
            instance: instance.to_owned(),
            component: component.to_owned(),
            side,
            port: port.to_owned(),
            ports: owned(ports),
        })
}

/// Checks that `instance`'s `component` has a `side` port numbered `number`
/// among `ports` (its port names, in declaration order), or returns
/// [`GraphError::NoSuchPortNumber`] listing them.
///
/// Called by the runtime's `GraphBuilder::connect`, whose ports are given
/// by number.
pub fn check_port_number<'a>(
    side: Side,
    instance: &str,
    component: &str,
    number: usize,
    ports: impl ExactSizeIterator<Item = &'a str>,
) -> Result<(), GraphError> {
    if number < ports.len() {
        return Ok(());
    }
    Err(GraphError::NoSuchPortNumber {
        instance: instance.to_owned(),
        component: component.to_owned(),
        side,
        number,
        ports: owned(ports),
    })
}

/// Checks that the packet type `found` that `arc` carries is the type
/// `expected` by `port` (as `b.inp`); types are compared with `==` and shown
/// by `name`. Otherwise returns [`GraphError::TypeMismatch`] naming both.
///
/// Called by the runtime's `GraphBuilder::connect` (the arc's type against
/// each port's) and `Draft` (the output's type against the input's, for
/// each arc an update adds or whose ends it replaces), with its
/// `PacketType`s, whose identity is a `TypeId` and whose name is only for
/// messages: two types of one name differ if they come from different
/// builds, and the message says so.
pub fn check_packet_type<T: PartialEq>(
    arc: &str,
    port: &str,
    found: &T,
    expected: &T,
    name: impl Fn(&T) -> &str,
) -> Result<(), GraphError> {
    if found == expected {
        return Ok(());
    }
    Err(GraphError::TypeMismatch {
        arc: arc.to_owned(),
        port: port.to_owned(),
        found: name(found).to_owned(),
        expected: name(expected).to_owned(),
    })
}

/// Every wiring mistake of `instance`, given each of its declared ports with
/// the number of arcs at it: an input with no arc, an output with none or
/// with more than one (packets are moved, never cloned). Inputs come first,
/// then outputs, each in the order given; empty if the wiring is right.
///
/// Called by the runtime's `GraphBuilder::build` for every instance, and by
/// `Draft` for the instances an update touches, so an update costs what it
/// touches. Arcs at ports the component does not declare are
/// [`find_port`]'s business.
pub fn check_wiring<'a>(
    instance: &str,
    inputs: impl IntoIterator<Item = (&'a str, usize)>,
    outputs: impl IntoIterator<Item = (&'a str, usize)>,
) -> Vec<GraphError> {
    let port = |p: &str| format!("{instance}.{p}");
    let inputs = inputs
        .into_iter()
        .filter(|&(_, arcs)| arcs == 0)
        .map(|(p, _)| GraphError::Unconnected {
            port: port(p),
            side: Side::Input,
        });
    let outputs = outputs.into_iter().filter_map(|(p, arcs)| match arcs {
        1 => None,
        0 => Some(GraphError::Unconnected {
            port: port(p),
            side: Side::Output,
        }),
        arcs => Some(GraphError::OutputShared {
            port: port(p),
            arcs,
        }),
    });
    inputs.chain(outputs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_found_by_name_or_the_ports_are_listed() {
        let outputs = ["out", "err"];
        assert_eq!(
            find_port(
                "a.err -> b.inp",
                Side::Output,
                ("a", "err"),
                "Numbers",
                outputs
            ),
            Ok(1)
        );
        assert_eq!(
            find_port(
                "a.er -> b.inp",
                Side::Output,
                ("a", "er"),
                "Numbers",
                outputs
            ),
            Err(GraphError::NoSuchPort {
                arc: "a.er -> b.inp".into(),
                instance: "a".into(),
                component: "Numbers".into(),
                side: Side::Output,
                port: "er".into(),
                ports: vec!["out".into(), "err".into()],
            })
        );
        // Ports given as the runtime has them: metadata mapped to names.
        struct Meta {
            name: &'static str,
        }
        let inputs = [Meta { name: "inp" }];
        let found = find_port(
            "a.out -> b.inp",
            Side::Input,
            ("b", "inp"),
            "Sum",
            inputs.iter().map(|m| m.name),
        );
        assert_eq!(found, Ok(0));
    }

    #[test]
    fn a_port_number_must_be_below_the_port_count() {
        let inputs = ["left", "right"];
        assert_eq!(
            check_port_number(Side::Input, "m", "Merge", 1, inputs.into_iter()),
            Ok(())
        );
        assert_eq!(
            check_port_number(Side::Input, "m", "Merge", 2, inputs.into_iter()),
            Err(GraphError::NoSuchPortNumber {
                instance: "m".into(),
                component: "Merge".into(),
                side: Side::Input,
                number: 2,
                ports: vec!["left".into(), "right".into()],
            })
        );
    }

    #[test]
    fn packet_types_are_compared_by_identity_and_shown_by_name() {
        // Like the runtime's PacketType: an id, and a name for messages.
        #[derive(PartialEq)]
        struct Packet(u32, &'static str);
        fn name(p: &Packet) -> &str {
            p.1
        }
        let (a, b, b_elsewhere) = (Packet(1, "u32"), Packet(2, "Msg"), Packet(3, "Msg"));
        assert_eq!(check_packet_type("x.o -> y.i", "y.i", &b, &b, name), Ok(()));
        assert_eq!(
            check_packet_type("x.o -> y.i", "y.i", &a, &b, name),
            Err(GraphError::TypeMismatch {
                arc: "x.o -> y.i".into(),
                port: "y.i".into(),
                found: "u32".into(),
                expected: "Msg".into(),
            })
        );
        let e = check_packet_type("x.o -> y.i", "y.i", &b, &b_elsewhere, name).unwrap_err();
        assert!(e.to_string().contains("another type named `Msg`"), "{e}");
    }

    #[test]
    fn wiring_needs_every_input_and_exactly_one_arc_per_output() {
        assert_eq!(
            check_wiring("m", [("left", 1), ("right", 3)], [("out", 1)]),
            []
        );
        assert_eq!(
            check_wiring("m", [("left", 0), ("right", 1)], [("out", 0), ("err", 2)]),
            [
                GraphError::Unconnected {
                    port: "m.left".into(),
                    side: Side::Input
                },
                GraphError::Unconnected {
                    port: "m.out".into(),
                    side: Side::Output
                },
                GraphError::OutputShared {
                    port: "m.err".into(),
                    arcs: 2
                },
            ]
        );
    }
}
