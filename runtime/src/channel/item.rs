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

/// An item that is not a packet, kept apart from packets (with its
/// position among them) by the buffers and rings that hold items.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    End,
    Marker(u64),
}

impl<T> From<Control> for Item<T> {
    fn from(c: Control) -> Self {
        match c {
            Control::End => Item::End,
            Control::Marker(id) => Item::Marker(id),
        }
    }
}

impl From<Control> for Stop {
    fn from(c: Control) -> Self {
        match c {
            Control::End => Stop::End,
            Control::Marker(id) => Stop::Marker(id),
        }
    }
}
