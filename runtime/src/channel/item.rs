//! The items an arc carries, and why a drain of them stops: shared by the
//! queues and the buffer they keep items in.

/// What travels on an arc.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<T> {
    /// A packet.
    Data(T),
    /// The producer has finished; nothing follows.
    End,
    /// Update marker: everything before it belongs to the flow before
    /// update `id`, everything after it to the flow after.
    Marker(u64),
}

/// Why a drain stopped early.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Budget used up or arc empty.
    None,
    /// End of stream reached.
    End,
    /// Marker of update `id` reached; the arc is held until the update
    /// releases it.
    Marker(u64),
}
