//! [`GraphError`]: every rule of a graph's shape that can be broken, with the
//! one set of messages `graph!` and the runtime show for them.
//!
//! The fields are plain data (names and counts) so that the runtime can carry
//! an error inside its own public errors, and `graph!` can show it at the
//! user's tokens.

use std::fmt;

/// Which side of an instance a port is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// An input port: packets arrive there.
    Input,
    /// An output port: packets leave from there.
    Output,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Input => "input",
            Side::Output => "output",
        })
    }
}

/// A rule of a graph's shape that was broken. Arcs are labelled as
/// `a.out -> b.inp`, ports as `a.out`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphError {
    /// An arc or an edit names an instance the graph does not have.
    UnknownInstance {
        /// The name given.
        name: String,
        /// The instances the graph has, in declaration order.
        instances: Vec<String>,
    },
    /// An arc names a port that its instance's component does not have.
    NoSuchPort {
        /// The arc.
        arc: String,
        /// The instance.
        instance: String,
        /// The instance's component.
        component: String,
        /// The side the arc needs the port on.
        side: Side,
        /// The port name given.
        port: String,
        /// The component's ports on that side, in declaration order.
        ports: Vec<String>,
    },
    /// A port given by number (`GraphBuilder::connect`) that the component
    /// does not have.
    NoSuchPortNumber {
        /// The instance.
        instance: String,
        /// The instance's component.
        component: String,
        /// The side of the port.
        side: Side,
        /// The number given.
        number: usize,
        /// The component's ports on that side, numbered from 0.
        ports: Vec<String>,
    },
    /// An arc joins ports of different packet types, or carries a type its
    /// port does not.
    TypeMismatch {
        /// The arc.
        arc: String,
        /// The port whose type differs.
        port: String,
        /// The type the arc carries (what its output sends).
        found: String,
        /// The type the port expects.
        expected: String,
    },
    /// A port has no arc: every input needs one, every output exactly one.
    Unconnected {
        /// The port.
        port: String,
        /// Its side.
        side: Side,
    },
    /// An output has more than one arc (packets are moved, never cloned).
    OutputShared {
        /// The port.
        port: String,
        /// How many arcs it has.
        arcs: usize,
    },
    /// An arc closes a cycle.
    Cycle {
        /// The arc, from the first instance of the cycle to the second.
        arc: String,
        /// The instances on the cycle, in arc order, each once (the last
        /// has an arc back to the first).
        instances: Vec<String>,
    },
    /// An instance is placed on a worker the graph does not have.
    NoSuchWorker {
        /// The instance.
        instance: String,
        /// The worker asked for.
        worker: usize,
        /// How many workers the graph has.
        workers: usize,
    },
    /// Two instances share a name (names address instances in updates,
    /// reports and reloads).
    DuplicateInstance {
        /// The name.
        name: String,
    },
}

/// At most this many names are listed in a message; the rest are counted.
const LISTED: usize = 20;

/// `` `a`, `b`, `c` ``, at most [`LISTED`] of them.
fn list(names: &[String]) -> String {
    let mut s: Vec<String> = names
        .iter()
        .take(LISTED)
        .map(|n| format!("`{n}`"))
        .collect();
    if names.len() > LISTED {
        s.push(format!("and {} more", names.len() - LISTED));
    }
    s.join(", ")
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The candidate closest to `name`, if one is close enough to be a typo.
fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| distance(c, name) <= 2.max(name.len() / 3))
        .min_by_key(|c| distance(c, name))
        .map(String::as_str)
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::UnknownInstance { name, instances } => {
                write!(f, "no instance named `{name}` in this graph")?;
                if let Some(best) = closest(name, instances) {
                    write!(f, "; did you mean `{best}`?")?;
                }
                if instances.is_empty() {
                    f.write_str("; the graph has no instances yet")
                } else {
                    write!(f, " (instances: {})", list(instances))
                }
            }
            GraphError::NoSuchPort {
                arc,
                instance,
                component,
                side,
                port,
                ports,
            } => {
                write!(
                    f,
                    "arc `{arc}`: `{instance}` (`{component}`) has no {side} port `{port}`"
                )?;
                if let Some(best) = closest(port, ports) {
                    write!(f, "; did you mean `{best}`?")?;
                }
                if ports.is_empty() {
                    write!(f, "; it has no {side}s")
                } else {
                    write!(f, " ({side}s: {})", list(ports))
                }
            }
            GraphError::NoSuchPortNumber {
                instance,
                component,
                side,
                number,
                ports,
            } => {
                write!(
                    f,
                    "`{instance}` (`{component}`) has no {side} port number {number}"
                )?;
                if ports.is_empty() {
                    write!(f, "; it has no {side}s")
                } else {
                    let numbered: Vec<String> = ports
                        .iter()
                        .enumerate()
                        .map(|(i, p)| format!("{i} `{p}`"))
                        .collect();
                    write!(f, " ({side}s: {})", numbered.join(", "))
                }
            }
            GraphError::TypeMismatch {
                arc,
                port,
                found,
                expected,
            } => {
                write!(f, "arc `{arc}` carries `{found}`, but `{port}` expects ")?;
                if found == expected {
                    write!(
                        f,
                        "another type named `{expected}` (from another crate, another version of its crate, or another build)"
                    )?;
                } else {
                    write!(f, "`{expected}`")?;
                }
                f.write_str(
                    "; the ports an arc joins must have the same packet type (an update that changes it must replace both ends)",
                )
            }
            GraphError::Unconnected {
                port,
                side: Side::Input,
            } => write!(f, "input `{port}` has no arc; connect it"),
            GraphError::Unconnected {
                port,
                side: Side::Output,
            } => write!(
                f,
                "output `{port}` has no arc, so its packets would be lost; connect it"
            ),
            GraphError::OutputShared { port, arcs } => write!(
                f,
                "output `{port}` has {arcs} arcs; packets are moved, not cloned: \
                 to send to several consumers, give the component one output per consumer"
            ),
            GraphError::Cycle { arc, instances } => {
                let first = instances.first().map_or("", String::as_str);
                write!(
                    f,
                    "arc `{arc}` closes a cycle: {} -> {first}; evoflow graphs must be acyclic (end of stream and \
                     update markers travel downstream): break the cycle or keep the feedback inside \
                     one component's state",
                    instances.join(" -> ")
                )
            }
            GraphError::NoSuchWorker {
                instance,
                worker,
                workers,
            } => write!(
                f,
                "instance `{instance}` is placed on worker {worker}, but the graph has {workers} worker(s), numbered from 0"
            ),
            GraphError::DuplicateInstance { name } => write!(
                f,
                "two instances are named `{name}`; names address instances in updates and reports, so each must be unique"
            ),
        }
    }
}

impl std::error::Error for GraphError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_unknown_instance_lists_the_instances_and_suggests_the_closest() {
        let e = GraphError::UnknownInstance {
            name: "numbrs".into(),
            instances: names(&["numbers", "sum"]),
        };
        assert_eq!(
            e.to_string(),
            "no instance named `numbrs` in this graph; did you mean `numbers`? (instances: `numbers`, `sum`)"
        );
        let e = GraphError::UnknownInstance {
            name: "a".into(),
            instances: vec![],
        };
        assert_eq!(
            e.to_string(),
            "no instance named `a` in this graph; the graph has no instances yet"
        );
        let many: Vec<String> = (0..25).map(|i| format!("instance{i}")).collect();
        let e = GraphError::UnknownInstance {
            name: "zzz".into(),
            instances: many,
        };
        assert!(e.to_string().ends_with("`instance19`, and 5 more)"), "{e}");
    }

    #[test]
    fn a_missing_port_names_the_arc_the_component_and_its_ports() {
        let e = GraphError::NoSuchPort {
            arc: "a.outt -> b.inp".into(),
            instance: "a".into(),
            component: "Numbers".into(),
            side: Side::Output,
            port: "outt".into(),
            ports: names(&["out", "err"]),
        };
        assert_eq!(
            e.to_string(),
            "arc `a.outt -> b.inp`: `a` (`Numbers`) has no output port `outt`; did you mean `out`? (outputs: `out`, `err`)"
        );
        let e = GraphError::NoSuchPortNumber {
            instance: "b".into(),
            component: "Sum".into(),
            side: Side::Input,
            number: 2,
            ports: names(&["left", "right"]),
        };
        assert_eq!(
            e.to_string(),
            "`b` (`Sum`) has no input port number 2 (inputs: 0 `left`, 1 `right`)"
        );
        let e = GraphError::NoSuchPortNumber {
            instance: "s".into(),
            component: "Source".into(),
            side: Side::Input,
            number: 0,
            ports: vec![],
        };
        assert_eq!(
            e.to_string(),
            "`s` (`Source`) has no input port number 0; it has no inputs"
        );
    }

    #[test]
    fn a_type_mismatch_names_both_types_and_explains_equal_names() {
        let e = GraphError::TypeMismatch {
            arc: "a.out -> b.inp".into(),
            port: "b.inp".into(),
            found: "u32".into(),
            expected: "alloc::string::String".into(),
        };
        assert!(
            e.to_string().starts_with(
                "arc `a.out -> b.inp` carries `u32`, but `b.inp` expects `alloc::string::String`; "
            ),
            "{e}"
        );
        let e = GraphError::TypeMismatch {
            arc: "a.out -> b.inp".into(),
            port: "b.inp".into(),
            found: "app::Msg".into(),
            expected: "app::Msg".into(),
        };
        assert!(
            e.to_string()
                .contains("expects another type named `app::Msg` (from another crate"),
            "{e}"
        );
    }

    #[test]
    fn a_cycle_is_shown_closed() {
        let e = GraphError::Cycle {
            arc: "a.out -> b.inp".into(),
            instances: names(&["a", "b", "c"]),
        };
        assert!(
            e.to_string()
                .starts_with("arc `a.out -> b.inp` closes a cycle: a -> b -> c -> a; evoflow graphs must be acyclic"),
            "{e}"
        );
    }

    #[test]
    fn wiring_and_placement_messages_say_how_to_fix() {
        let cases = [
            (
                GraphError::Unconnected {
                    port: "a.inp".into(),
                    side: Side::Input,
                },
                "input `a.inp` has no arc; connect it",
            ),
            (
                GraphError::Unconnected {
                    port: "a.out".into(),
                    side: Side::Output,
                },
                "output `a.out` has no arc, so its packets would be lost; connect it",
            ),
            (
                GraphError::OutputShared {
                    port: "a.out".into(),
                    arcs: 2,
                },
                "output `a.out` has 2 arcs; packets are moved, not cloned: to send to several consumers, \
                 give the component one output per consumer",
            ),
            (
                GraphError::NoSuchWorker {
                    instance: "a".into(),
                    worker: 3,
                    workers: 2,
                },
                "instance `a` is placed on worker 3, but the graph has 2 worker(s), numbered from 0",
            ),
        ];
        for (e, msg) in cases {
            assert_eq!(e.to_string(), msg);
        }
    }
}
