//! Support for the code that `#[component]` and `graph!` generate. Not a
//! public API: names and signatures may change in any release.
//!
//! The checks are `const fn`s evaluated in constants that `graph!` spans at
//! the user's tokens, so a wrong port name is a compile error pointing at
//! that name, with a message listing the ports that exist.

use crate::component::{ComponentMeta, PortMeta};

pub use crate::builder::GraphBuilder;

/// Packet type of input port number `I` of a component.
pub trait InputAt<const I: usize> {
    /// The packet type.
    type Packet: Send + 'static;
}

/// Packet type of output port number `I` of a component.
pub trait OutputAt<const I: usize> {
    /// The packet type.
    type Packet: Send + 'static;
}

/// Implemented only for identical types: `graph!` requires
/// `Output: SamePacket<Input>` on every arc.
#[diagnostic::on_unimplemented(
    message = "packet type mismatch: this arc's output sends `{Self}` but its input expects `{Input}`",
    label = "output sends `{Self}`, input expects `{Input}`",
    note = "an arc moves packets unchanged: make both ports carry the same type, or put a converting component between them"
)]
pub trait SamePacket<Input> {}

impl<T> SamePacket<T> for T {}

/// Compiles only if `Out` and `In` are the same type.
pub const fn assert_same_packet<Out: SamePacket<In>, In>() {}

/// A message assembled at compile time (const panics take one `&str`).
struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    const fn new() -> Self {
        Msg { buf: [0; 1024], len: 0 }
    }

    const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `` `a`, `b` `` for the ports in `ports`.
    const fn push_ports(mut self, ports: &[PortMeta]) -> Self {
        let mut i = 0;
        while i < ports.len() {
            if i > 0 {
                self = self.push(", ");
            }
            self = self.push("`").push(ports[i].name).push("`");
            i += 1;
        }
        self
    }

    const fn fail(&self) -> ! {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => panic!("{}", s),
            Err(_) => panic!("evoflow: invalid port reference"),
        }
    }
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn find(ports: &[PortMeta], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < ports.len() {
        if eq(ports[i].name, name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Index of output `port` of `instance`, or a compile error saying what
/// exists instead.
pub const fn output_index(meta: &ComponentMeta, instance: &str, port: &str) -> usize {
    if let Some(i) = find(meta.outputs, port) {
        return i;
    }
    let m = Msg::new();
    let m = if find(meta.inputs, port).is_some() {
        m.push("`")
            .push(instance)
            .push(".")
            .push(port)
            .push("` is an input port of `")
            .push(meta.name)
            .push("`, not an output; arcs go from an output to an input: `producer.output -> consumer.input`")
    } else if meta.outputs.is_empty() {
        m.push("`").push(instance).push("` (`").push(meta.name).push("`) is a sink: it has no output ports")
    } else {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) has no output port `")
            .push(port)
            .push("`; its output ports are: ")
            .push_ports(meta.outputs)
    };
    m.fail()
}

/// Index of input `port` of `instance`, or a compile error saying what
/// exists instead.
pub const fn input_index(meta: &ComponentMeta, instance: &str, port: &str) -> usize {
    if let Some(i) = find(meta.inputs, port) {
        return i;
    }
    let m = Msg::new();
    let m = if find(meta.outputs, port).is_some() {
        m.push("`")
            .push(instance)
            .push(".")
            .push(port)
            .push("` is an output port of `")
            .push(meta.name)
            .push("`, not an input; arcs go from an output to an input: `producer.output -> consumer.input`")
    } else if meta.inputs.is_empty() {
        m.push("`").push(instance).push("` (`").push(meta.name).push("`) is a source: it has no input ports")
    } else {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) has no input port `")
            .push(port)
            .push("`; its input ports are: ")
            .push_ports(meta.inputs)
    };
    m.fail()
}

/// Compile error if a port of `instance` is not among the connected ones.
pub const fn check_connected(meta: &ComponentMeta, instance: &str, inputs: &[&str], outputs: &[&str]) {
    let mut i = 0;
    while i < meta.inputs.len() {
        if !contains(inputs, meta.inputs[i].name) {
            Msg::new()
                .push("input port `")
                .push(meta.inputs[i].name)
                .push("` of `")
                .push(instance)
                .push("` (`")
                .push(meta.name)
                .push("`) is not connected; add an arc `<instance>.<output> -> ")
                .push(instance)
                .push(".")
                .push(meta.inputs[i].name)
                .push("`")
                .fail();
        }
        i += 1;
    }
    let mut o = 0;
    while o < meta.outputs.len() {
        if !contains(outputs, meta.outputs[o].name) {
            Msg::new()
                .push("output port `")
                .push(meta.outputs[o].name)
                .push("` of `")
                .push(instance)
                .push("` (`")
                .push(meta.name)
                .push("`) is not connected, so its packets would be lost; add an arc `")
                .push(instance)
                .push(".")
                .push(meta.outputs[o].name)
                .push(" -> <instance>.<input>`")
                .fail();
        }
        o += 1;
    }
}

const fn contains(names: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < names.len() {
        if eq(names[i], name) {
            return true;
        }
        i += 1;
    }
    false
}
