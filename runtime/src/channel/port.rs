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

    /// False when a drain of arc `arc` would do nothing now: the arc is
    /// held or ended, or it is inside the machine and empty. (A drain of
    /// an arc from another machine also gives credits back: always worth
    /// one.)
    #[inline]
    pub fn may_have_items(&self, arc: usize) -> bool {
        let a = &self.arcs[arc];
        a.state == ArcState::Open && a.rx.may_have_items()
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

/// Runs `f` on `outputs` moved into a local for the duration, written back
/// when `f` returns or unwinds. A local whose address does not escape is
/// split into registers by the optimizer: an output's length then stays in
/// a register across a drain, instead of being stored and loaded again
/// for every packet emitted (a store-to-load chain on the hot path).
#[inline(always)]
pub fn with_local<O, R>(outputs: &mut O, f: impl FnOnce(&mut O) -> R) -> R {
    struct WriteBack<'a, O> {
        to: &'a mut O,
        local: std::mem::ManuallyDrop<O>,
    }
    impl<O> Drop for WriteBack<'_, O> {
        #[inline(always)]
        fn drop(&mut self) {
            // SAFETY: `*self.to` was moved into `local` by the read below
            // and not used since; `local` is read once, here, and never
            // dropped (it is a `ManuallyDrop`).
            unsafe { std::ptr::write(self.to, std::mem::ManuallyDrop::take(&mut self.local)) }
        }
    }
    // SAFETY: moved out of `*outputs`, which nothing touches until the
    // guard writes it back (also when `f` unwinds).
    let local = std::mem::ManuallyDrop::new(unsafe { std::ptr::read(outputs) });
    let mut back = WriteBack { to: outputs, local };
    f(&mut back.local)
}

/// The runtime's view of an output port, independent of its packet type.
pub trait ErasedOutPort {
    /// Id of the port's arc.
    fn arc_id(&self) -> ArcId;
    /// Moves staged items into the arc (as many as it takes now); true if
    /// any moved.
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::channel::arc::{ArcFactory, Locals};
    use crate::channel::wake::Sleeper;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Req(u32);
    impl Recoverable for Req {}

    /// An output port and the input end of its arc `id`: local, or a ring
    /// between two workers.
    fn arc<T: Send + 'static>(id: ArcId, capacity: usize, ring: bool) -> (OutPort<T>, End) {
        let (p, c) = (Sleeper::new(), Sleeper::new());
        let (tx, rx) = ArcFactory::of::<T>().plan(
            id,
            capacity,
            (0, &p.waker()),
            (if ring { 1 } else { 0 }, &c.waker()),
        );
        let mut locals = Locals::default();
        (
            OutPort::from_end(tx.open(&mut locals)),
            rx.open(&mut locals),
        )
    }

    fn drain_all<T: Send + 'static>(
        port: &mut InPort<T>,
        arc: usize,
        seen: &mut Vec<T>,
    ) -> Drained {
        port.drain(arc, 100, |x| seen.push(x))
    }

    #[test]
    fn packets_emitted_on_an_out_port_are_drained_in_order_from_the_in_port() {
        for ring in [false, true] {
            let (mut out, end) = arc::<u32>(7, 8, ring);
            let mut inp = InPort::<u32>::from_ends(vec![end]);
            assert_eq!(inp.arc_id(0), 7);
            (1..=5).for_each(|i| out.send(i));
            out.flush();
            let mut seen = Vec::new();
            let d = drain_all(&mut inp, 0, &mut seen);
            assert_eq!(
                d,
                Drained {
                    handled: 5,
                    stopped: false
                },
                "ring: {ring}"
            );
            assert_eq!(seen, [1, 2, 3, 4, 5], "ring: {ring}");
            assert_eq!(inp.state(0), ArcState::Open);
        }
    }

    #[test]
    fn a_ring_port_delivers_nothing_until_flushed_and_reports_no_room_meanwhile() {
        let (mut out, end) = arc::<u32>(1, 4, true);
        let inp = InPort::<u32>::from_ends(vec![end]);
        assert_eq!(out.room(), 4);
        out.send(1);
        assert!(!out.is_flushed() && out.can_flush());
        assert_eq!(out.room(), 0);
        assert!(!inp.has_item(0));
        assert!(out.flush());
        assert!(inp.has_item(0));
        assert_eq!(out.room(), 3);
    }

    #[test]
    fn a_marker_holds_its_arc_while_the_other_arcs_of_the_port_flow() {
        for ring in [false, true] {
            let (mut a, ea) = arc::<u32>(1, 8, ring);
            let (mut b, eb) = arc::<u32>(2, 8, ring);
            let mut inp = InPort::<u32>::from_ends(vec![ea, eb]);
            a.send(1);
            a.marker(9);
            a.send(2);
            b.send(10);
            a.flush();
            b.flush();
            let mut seen = Vec::new();
            let d = drain_all(&mut inp, 0, &mut seen);
            assert_eq!(
                d,
                Drained {
                    handled: 1,
                    stopped: true
                },
                "ring: {ring}"
            );
            assert_eq!(inp.state(0), ArcState::AtMarker(9));
            // Held: the packet behind the marker waits, and the arc does
            // not count as having work.
            assert!(!inp.has_item(0), "a held arc has no work");
            assert_eq!(drain_all(&mut inp, 0, &mut seen), Drained::default());
            // The other arc flows meanwhile.
            b.send(11);
            b.flush();
            assert_eq!(drain_all(&mut inp, 1, &mut seen).handled, 2);
            assert_eq!(seen, [1, 10, 11]);
            inp.release(0);
            assert_eq!(inp.state(0), ArcState::Open);
            assert!(inp.has_item(0));
            assert_eq!(drain_all(&mut inp, 0, &mut seen).handled, 1);
            assert_eq!(seen, [1, 10, 11, 2], "ring: {ring}");
        }
    }

    #[test]
    fn releasing_an_arc_that_is_not_held_changes_nothing() {
        let (mut out, end) = arc::<u32>(1, 8, false);
        let mut inp = InPort::<u32>::from_ends(vec![end]);
        inp.release(0);
        assert_eq!(inp.state(0), ArcState::Open);
        out.end();
        out.flush();
        drain_all(&mut inp, 0, &mut Vec::new());
        inp.release(0);
        assert_eq!(inp.state(0), ArcState::Ended, "an ended arc stays ended");
    }

    #[test]
    fn the_end_of_stream_ends_the_arc_after_the_packets_before_it() {
        let (mut out, end) = arc::<u32>(1, 8, true);
        let mut inp = InPort::<u32>::from_ends(vec![end]);
        out.send(1);
        out.end();
        out.flush();
        let mut seen = Vec::new();
        assert_eq!(
            drain_all(&mut inp, 0, &mut seen),
            Drained {
                handled: 1,
                stopped: true
            }
        );
        assert_eq!(seen, [1]);
        assert_eq!(inp.state(0), ArcState::Ended);
        assert_eq!(drain_all(&mut inp, 0, &mut seen), Drained::default());
    }

    #[test]
    fn ports_give_their_ends_back_with_ids_ended_flags_and_unread_packets() {
        let (mut a, ea) = arc::<u32>(1, 8, false);
        let (mut b, eb) = arc::<u32>(2, 8, true);
        let mut inp = InPort::<u32>::from_ends(vec![ea, eb]);
        a.end();
        a.flush();
        b.send(5);
        b.send(6);
        drain_all(&mut inp, 0, &mut Vec::new());
        let ends = inp.into_ends();
        assert_eq!(
            ends.iter().map(|e| (e.id, e.ended)).collect::<Vec<_>>(),
            [(1, true), (2, false)]
        );
        // The output end keeps what is still staged.
        let end = b.into_end();
        assert_eq!((end.id, end.ended), (2, false));
        let mut b = OutPort::<u32>::from_end(end);
        assert!(b.flush());
        let mut inp = InPort::<u32>::from_ends(ends);
        assert_eq!(inp.state(0), ArcState::Ended);
        let mut seen = Vec::new();
        drain_all(&mut inp, 1, &mut seen);
        assert_eq!(seen, [5, 6]);
    }

    #[test]
    #[should_panic(expected = "arc end is not")]
    fn an_in_port_refuses_an_end_of_another_packet_type() {
        let (_out, end) = arc::<u32>(1, 8, false);
        let _ = InPort::<String>::from_ends(vec![end]);
    }

    #[test]
    fn keeping_returns_the_packet_whose_handler_panicked() {
        for ring in [false, true] {
            let (mut out, end) = arc::<Req>(1, 8, ring);
            let mut inp = InPort::<Req>::from_ends(vec![end]);
            (1..=4).for_each(|i| out.send(Req(i)));
            out.flush();
            let mut seen = Vec::new();
            let r = catch_unwind(AssertUnwindSafe(|| {
                inp.drain_keeping(0, 100, |r| {
                    if r.0 == 3 {
                        panic!("handler fails on 3");
                    }
                    seen.push(r);
                })
            }));
            assert!(r.is_err());
            assert_eq!(seen, [Req(1), Req(2)]);
            let kept = inp.take_kept().expect("the panicking packet is kept");
            assert_eq!(kept.text, "Req(3)", "ring: {ring}");
            assert_eq!(*kept.packet.downcast::<Req>().unwrap(), Req(3));
            assert!(inp.take_kept().is_none(), "taken once");
            // The rest flows on.
            let d = inp.drain_keeping(0, 100, |r| seen.push(r));
            assert_eq!(d.handled, 1);
            assert_eq!(seen, [Req(1), Req(2), Req(4)]);
        }
    }

    #[test]
    fn keeping_keeps_nothing_once_every_handler_returned() {
        let (mut out, end) = arc::<Req>(1, 8, false);
        let mut inp = InPort::<Req>::from_ends(vec![end]);
        out.send(Req(1));
        out.send(Req(2));
        out.flush();
        assert_eq!(inp.drain_keeping(0, 100, |_| {}).handled, 2);
        assert!(inp.take_kept().is_none());
    }

    #[test]
    fn keeping_returns_the_first_packet_of_a_drain_when_its_handler_panics() {
        let (mut out, end) = arc::<Req>(1, 8, false);
        let mut inp = InPort::<Req>::from_ends(vec![end]);
        out.send(Req(1));
        out.flush();
        assert_eq!(inp.drain_keeping(0, 100, |_| {}).handled, 1);
        out.send(Req(2));
        out.flush();
        let r = catch_unwind(AssertUnwindSafe(|| {
            inp.drain_keeping(0, 100, |_| panic!("fails"))
        }));
        assert!(r.is_err());
        assert_eq!(inp.take_kept().map(|k| k.text).as_deref(), Some("Req(2)"));
    }

    #[test]
    fn a_plain_drain_keeps_nothing() {
        let (mut out, end) = arc::<Req>(1, 8, false);
        let mut inp = InPort::<Req>::from_ends(vec![end]);
        out.send(Req(1));
        out.flush();
        let r = catch_unwind(AssertUnwindSafe(|| inp.drain(0, 100, |_| panic!("fails"))));
        assert!(r.is_err());
        assert!(inp.take_kept().is_none());
    }

    #[test]
    fn outputs_worked_on_in_a_local_are_written_back_also_when_the_work_panics() {
        use std::rc::Rc;
        let counted = Rc::new(());
        let mut outputs: Vec<Rc<()>> = vec![counted.clone()];
        let n = with_local(&mut outputs, |o| {
            o.push(counted.clone());
            o.len()
        });
        assert_eq!((n, outputs.len()), (2, 2));
        let r = catch_unwind(AssertUnwindSafe(|| {
            with_local(&mut outputs, |o| {
                o.push(counted.clone());
                o.remove(0);
                panic!("a handler fails after emitting");
            })
        }));
        assert!(r.is_err());
        assert_eq!(outputs.len(), 2, "what was done before the panic is kept");
        assert_eq!(
            Rc::strong_count(&counted),
            3,
            "nothing dropped twice or lost"
        );
        drop(outputs);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}
