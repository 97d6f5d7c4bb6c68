//! Typed ports: what a component's generated glue holds and what handlers
//! emit through.
//!
//! Ports are typed, so moving a packet never boxes or checks a type. The
//! worker hands ports their arc ends as `Box<dyn Any>`; each port downcasts
//! once, at wiring time.

use crate::queue::{Item, Rx, Tx};
use smallvec::SmallVec;
use std::any::Any;

/// An arc end on its way to a port, type-erased. Local arc ends are not
/// `Send`: they are made on the worker thread that runs both ends.
pub type ErasedEnd = Box<dyn Any>;

/// What one drain of an input arc did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Packets handed to the handler.
    pub handled: usize,
    /// The arc delivered its end of stream.
    pub ended: bool,
}

/// One input arc and whether it has ended.
struct InArc<T> {
    rx: Rx<T>,
    ended: bool,
}

/// An input port: the arcs feeding it (fan-in is several arcs).
pub struct InPort<T> {
    arcs: SmallVec<[InArc<T>; 1]>,
}

impl<T: Send + 'static> InPort<T> {
    /// Builds the port from the arc ends the builder made for it.
    ///
    /// # Panics
    /// If an end does not carry `T` (graph! rules that out at compile time).
    pub fn from_erased(ends: Vec<ErasedEnd>) -> Self {
        let arcs = ends
            .into_iter()
            .map(|e| {
                let rx = *e.downcast::<Rx<T>>().unwrap_or_else(|_| {
                    panic!(
                        "evoflow: arc end does not carry `{}`",
                        std::any::type_name::<T>()
                    )
                });
                InArc { rx, ended: false }
            })
            .collect();
        InPort { arcs }
    }

    /// Hands up to `budget` packets of arc `arc` to `handler`.
    pub fn drain(&mut self, arc: usize, budget: usize, handler: impl FnMut(T)) -> Drained {
        let a = &mut self.arcs[arc];
        if a.ended {
            return Drained::default();
        }
        let (handled, ended) = a.rx.drain(budget, handler);
        a.ended = ended;
        Drained { handled, ended }
    }
}

/// The runtime's view of an input port, independent of its packet type.
pub trait ErasedInPort {
    /// Number of arcs feeding the port.
    fn arc_count(&self) -> usize;
    /// True if arc `arc` has delivered its end of stream.
    fn is_ended(&self, arc: usize) -> bool;
    /// True if arc `arc` has an item waiting.
    fn has_item(&self, arc: usize) -> bool;
}

impl<T: Send + 'static> ErasedInPort for InPort<T> {
    fn arc_count(&self) -> usize {
        self.arcs.len()
    }
    fn is_ended(&self, arc: usize) -> bool {
        self.arcs[arc].ended
    }
    fn has_item(&self, arc: usize) -> bool {
        !self.arcs[arc].ended && self.arcs[arc].rx.has_item()
    }
}

/// An output port. Emitting never blocks, whatever a handler emits: the
/// runtime only checks for room before a batch (see [`ErasedOutPort`]).
pub struct OutPort<T> {
    tx: Tx<T>,
}

impl<T: Send + 'static> OutPort<T> {
    /// Builds the port from the arc end the builder made for it.
    ///
    /// # Panics
    /// If the end does not carry `T` (graph! rules that out at compile time).
    pub fn from_erased(end: ErasedEnd) -> Self {
        let tx = *end.downcast::<Tx<T>>().unwrap_or_else(|_| {
            panic!(
                "evoflow: arc end does not carry `{}`",
                std::any::type_name::<T>()
            )
        });
        OutPort { tx }
    }

    /// Emits one packet.
    #[inline]
    pub fn send(&mut self, packet: T) {
        self.tx.send(Item::Data(packet));
    }
}

/// The runtime's view of an output port, independent of its packet type.
pub trait ErasedOutPort {
    /// Moves items staged for a ring into it; true if any moved.
    fn flush(&mut self) -> bool;
    /// True if nothing is staged and the arc has room.
    fn has_room(&self) -> bool;
    /// True if nothing waits to be moved into the arc.
    fn is_flushed(&self) -> bool;
    /// Stages the end of stream behind everything already emitted.
    fn end(&mut self);
}

impl<T: Send + 'static> ErasedOutPort for OutPort<T> {
    fn flush(&mut self) -> bool {
        self.tx.flush()
    }
    fn has_room(&self) -> bool {
        self.tx.has_room()
    }
    fn is_flushed(&self) -> bool {
        self.tx.is_flushed()
    }
    fn end(&mut self) {
        self.tx.send(Item::End);
    }
}

/// A component's inputs (a generated struct of [`InPort`]s).
pub trait InputSet: 'static + Sized {
    /// Number of input ports.
    const LEN: usize;
    /// Builds the ports from arc ends, `ends[port]` holding that port's arcs.
    fn from_erased(ends: Vec<Vec<ErasedEnd>>) -> Self;
    /// Port number `port`.
    fn port(&self, port: usize) -> &dyn ErasedInPort;
}

/// A component's outputs (a generated struct of [`OutPort`]s).
pub trait OutputSet: 'static + Sized {
    /// Number of output ports.
    const LEN: usize;
    /// Builds the ports from arc ends, one per port.
    fn from_erased(ends: Vec<ErasedEnd>) -> Self;
    /// Port number `port`.
    fn port(&mut self, port: usize) -> &mut dyn ErasedOutPort;
}

/// The inputs of a source: none.
pub struct NoInputs;

impl InputSet for NoInputs {
    const LEN: usize = 0;
    fn from_erased(_: Vec<Vec<ErasedEnd>>) -> Self {
        NoInputs
    }
    fn port(&self, port: usize) -> &dyn ErasedInPort {
        unreachable!("a source has no input port {port}")
    }
}

/// The outputs of a sink: none.
pub struct NoOutputs;

impl OutputSet for NoOutputs {
    const LEN: usize = 0;
    fn from_erased(_: Vec<ErasedEnd>) -> Self {
        NoOutputs
    }
    fn port(&mut self, port: usize) -> &mut dyn ErasedOutPort {
        unreachable!("a sink has no output port {port}")
    }
}
