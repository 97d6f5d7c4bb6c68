//! Typed ports: what a component's generated glue holds and what handlers
//! emit through.
//!
//! Ports are typed, so moving a packet never boxes or checks a type. The
//! worker hands ports their arc ends type-erased ([`End`]); each port
//! downcasts once, at wiring time, and gives them back the same way when a
//! live update rebuilds the instance.

use crate::channel::queue::{Item, Rx, Stop, Tx};
use smallvec::SmallVec;
use std::any::Any;
use std::fmt::Debug;

/// Identifies an arc for the lifetime of a running graph.
pub type ArcId = u64;

/// An arc end on its way to or from a port, type-erased. Local arc ends
/// are not `Send`: they live on the worker thread that runs both ends.
pub struct End {
    pub(crate) id: ArcId,
    pub(crate) end: Box<dyn Any>,
    /// An input arc that already delivered its end of stream.
    pub(crate) ended: bool,
}

/// Where an input arc is in its stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArcState {
    /// Packets flow.
    Open,
    /// The marker of an update arrived; the arc is held until the update
    /// releases it, so nothing behind the marker is handled too early.
    AtMarker(u64),
    /// The end of stream arrived.
    Ended,
}

/// What one drain of an input arc did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Packets handed to the handler.
    pub handled: usize,
    /// The arc reached a control item (end of stream or update marker).
    pub stopped: bool,
}

/// One input arc.
struct InArc<T> {
    id: ArcId,
    rx: Rx<T>,
    state: ArcState,
}

/// An input port: the arcs feeding it (fan-in is several arcs).
pub struct InPort<T> {
    arcs: SmallVec<[InArc<T>; 1]>,
    /// A clone of the packet whose handler runs (or panicked), kept by
    /// [`InPort::drain_keeping`] for [`Recoverable`] types, with how to
    /// show it.
    kept: Option<(T, Describe<T>)>,
}

/// Shows a kept packet (its `Debug` form) for a dead letter.
type Describe<T> = fn(&T) -> String;

fn downcast<E: 'static>(end: Box<dyn Any>) -> E {
    *end.downcast::<E>()
        .unwrap_or_else(|_| panic!("evoflow: arc end is not a `{}`", std::any::type_name::<E>()))
}

impl<T: Send + 'static> InPort<T> {
    /// Builds the port from its arc ends.
    ///
    /// # Panics
    /// If an end does not carry `T` (graph! and update validation rule
    /// that out).
    pub fn from_ends(ends: Vec<End>) -> Self {
        let arcs = ends
            .into_iter()
            .map(|e| InArc {
                id: e.id,
                rx: downcast::<Rx<T>>(e.end),
                state: if e.ended {
                    ArcState::Ended
                } else {
                    ArcState::Open
                },
            })
            .collect();
        InPort { arcs, kept: None }
    }

    /// Gives the arc ends back (a held marker is consumed).
    pub fn into_ends(self) -> Vec<End> {
        self.arcs
            .into_iter()
            .map(|a| End {
                id: a.id,
                end: Box::new(a.rx),
                ended: a.state == ArcState::Ended,
            })
            .collect()
    }

    /// Hands up to `budget` packets of arc `arc` to `handler`.
    #[inline]
    pub fn drain(&mut self, arc: usize, budget: usize, handler: impl FnMut(T)) -> Drained {
        let a = &mut self.arcs[arc];
        if a.state != ArcState::Open {
            return Drained::default();
        }
        let (handled, stop) = a.rx.drain(budget, handler);
        Self::stopped(a, handled, stop)
    }

    fn stopped(a: &mut InArc<T>, handled: usize, stop: Stop) -> Drained {
        match stop {
            Stop::None => {}
            Stop::End => a.state = ArcState::Ended,
            Stop::Marker(id) => a.state = ArcState::AtMarker(id),
        }
        Drained {
            handled,
            stopped: stop != Stop::None,
        }
    }
}

impl<T: Recoverable> InPort<T> {
    /// [`InPort::drain`], keeping a clone of each packet while its handler
    /// runs: if the handler panics, the dead letter shows it and a
    /// `#[recover]` method gets it back. The generated glue calls this for
    /// `Recoverable` packet types only, so other types pay nothing.
    #[inline]
    pub fn drain_keeping(
        &mut self,
        arc: usize,
        budget: usize,
        mut handler: impl FnMut(T),
    ) -> Drained {
        let a = &mut self.arcs[arc];
        if a.state != ArcState::Open {
            return Drained::default();
        }
        let kept = &mut self.kept;
        let (handled, stop) = a.rx.drain(budget, |p| {
            // Cleared first: if `clone` panics, the previous (handled)
            // packet must not pass for this one.
            *kept = None;
            *kept = Some((p.clone(), |p| format!("{p:?}")));
            handler(p);
        });
        // Reached only if no handler panicked.
        *kept = None;
        Self::stopped(a, handled, stop)
    }
}

/// The runtime's view of an input port, independent of its packet type.
pub trait ErasedInPort {
    /// Number of arcs feeding the port.
    fn arc_count(&self) -> usize;
    /// Id of arc `arc`.
    fn arc_id(&self, arc: usize) -> ArcId;
    /// State of arc `arc`.
    #[doc(hidden)]
    fn state(&self, arc: usize) -> ArcState;
    /// Lets a held arc flow again.
    #[doc(hidden)]
    fn release(&mut self, arc: usize);
    /// True if arc `arc` is open and has an item waiting.
    fn has_item(&self, arc: usize) -> bool;
    /// The packet whose handler panicked, if its type is kept.
    fn take_kept(&mut self) -> Option<Kept>;
}

impl<T: Send + 'static> ErasedInPort for InPort<T> {
    fn arc_count(&self) -> usize {
        self.arcs.len()
    }
    fn arc_id(&self, arc: usize) -> ArcId {
        self.arcs[arc].id
    }
    fn state(&self, arc: usize) -> ArcState {
        self.arcs[arc].state
    }
    fn release(&mut self, arc: usize) {
        if let ArcState::AtMarker(_) = self.arcs[arc].state {
            self.arcs[arc].state = ArcState::Open;
        }
    }
    fn has_item(&self, arc: usize) -> bool {
        self.arcs[arc].state == ArcState::Open && self.arcs[arc].rx.has_item()
    }
    fn take_kept(&mut self) -> Option<Kept> {
        let (p, describe) = self.kept.take()?;
        Some(Kept {
            text: describe(&p),
            packet: Box::new(p),
        })
    }
}

/// An output port. Emitting never blocks, whatever a handler emits: the
/// runtime only checks for room before a batch (see [`ErasedOutPort`]).
pub struct OutPort<T> {
    id: ArcId,
    tx: Tx<T>,
}

impl<T: Send + 'static> OutPort<T> {
    /// Builds the port from its arc end.
    ///
    /// # Panics
    /// If the end does not carry `T` (graph! and update validation rule
    /// that out).
    pub fn from_end(end: End) -> Self {
        OutPort {
            id: end.id,
            tx: downcast::<Tx<T>>(end.end),
        }
    }

    /// Gives the arc end back, with anything still staged in it.
    pub fn into_end(self) -> End {
        End {
            id: self.id,
            end: Box::new(self.tx),
            ended: false,
        }
    }

    /// Emits one packet.
    #[inline]
    pub fn send(&mut self, packet: T) {
        self.tx.send(Item::Data(packet));
    }
}

/// The runtime's view of an output port, independent of its packet type.
pub trait ErasedOutPort {
    /// Id of the port's arc.
    fn arc_id(&self) -> ArcId;
    /// Moves items staged for a ring into it; true if any moved.
    fn flush(&mut self) -> bool;
    /// True if items are staged and the arc has room for some of them.
    fn can_flush(&self) -> bool;
    /// How many packets the arc can take now (0 while any are staged).
    fn room(&self) -> usize;
    /// True if nothing waits to be moved into the arc.
    fn is_flushed(&self) -> bool;
    /// Sends the end of stream behind everything already emitted.
    fn end(&mut self);
    /// Sends the marker of update `id` behind everything already emitted.
    fn marker(&mut self, id: u64);
}

impl<T: Send + 'static> ErasedOutPort for OutPort<T> {
    fn arc_id(&self) -> ArcId {
        self.id
    }
    fn flush(&mut self) -> bool {
        self.tx.flush()
    }
    fn can_flush(&self) -> bool {
        self.tx.can_flush()
    }
    fn room(&self) -> usize {
        self.tx.room()
    }
    fn is_flushed(&self) -> bool {
        self.tx.is_flushed()
    }
    fn end(&mut self) {
        self.tx.send(Item::End);
    }
    fn marker(&mut self, id: u64) {
        self.tx.send(Item::Marker(id));
    }
}

/// A component's inputs (a generated struct of [`InPort`]s).
pub trait InputSet: 'static + Sized {
    /// Number of input ports.
    const LEN: usize;
    /// Builds the ports from arc ends, `ends[port]` holding that port's arcs.
    fn from_ends(ends: Vec<Vec<End>>) -> Self;
    /// Gives the arc ends back, per port.
    fn into_ends(self) -> Vec<Vec<End>>;
    /// Port number `port`.
    fn port(&self, port: usize) -> &dyn ErasedInPort;
    /// Port number `port`, mutably.
    fn port_mut(&mut self, port: usize) -> &mut dyn ErasedInPort;
}

/// A component's outputs (a generated struct of [`OutPort`]s).
pub trait OutputSet: 'static + Sized {
    /// Number of output ports.
    const LEN: usize;
    /// Builds the ports from arc ends, one per port.
    fn from_ends(ends: Vec<End>) -> Self;
    /// Gives the arc ends back, one per port.
    fn into_ends(self) -> Vec<End>;
    /// Port number `port`.
    fn port(&mut self, port: usize) -> &mut dyn ErasedOutPort;
}

/// The inputs of a source: none.
pub struct NoInputs;

impl InputSet for NoInputs {
    const LEN: usize = 0;
    fn from_ends(_: Vec<Vec<End>>) -> Self {
        NoInputs
    }
    fn into_ends(self) -> Vec<Vec<End>> {
        Vec::new()
    }
    fn port(&self, port: usize) -> &dyn ErasedInPort {
        unreachable!("a source has no input port {port}")
    }
    fn port_mut(&mut self, port: usize) -> &mut dyn ErasedInPort {
        unreachable!("a source has no input port {port}")
    }
}

/// The outputs of a sink: none.
pub struct NoOutputs;

impl OutputSet for NoOutputs {
    const LEN: usize = 0;
    fn from_ends(_: Vec<End>) -> Self {
        NoOutputs
    }
    fn into_ends(self) -> Vec<End> {
        Vec::new()
    }
    fn port(&mut self, port: usize) -> &mut dyn ErasedOutPort {
        unreachable!("a sink has no output port {port}")
    }
}

/// A packet type whose packets are kept (cloned) while their handler runs,
/// so that if it panics the dead letter shows the packet and a `#[recover]`
/// method gets it back (to answer it, say with an error response). Packets
/// of other types cost nothing extra.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Recoverable`: a `#[recover]` method only gets back packets of types that are",
    label = "packets of this input are not kept",
    note = "add `impl evoflow::Recoverable for {Self} {{}}` (it needs `Clone` and `Debug`); each packet is then cloned before its handler runs"
)]
pub trait Recoverable: Clone + Debug + Send + 'static {}

/// A packet kept while its handler ran, after the handler panicked.
pub struct Kept {
    /// The packet, `Debug`-formatted.
    pub text: String,
    /// The packet itself, for a `#[recover]` method.
    pub packet: Box<dyn Any + Send>,
}
