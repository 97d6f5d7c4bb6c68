//! The packets.

/// One input line, without its line break.
pub struct Line(pub String);

/// A word, numbered by the client that sent it.
pub struct Event {
    pub seq: u64,
    pub word: String,
}

impl Event {
    pub fn new(seq: u64, word: &str) -> Self {
        Event {
            seq,
            word: word.to_owned(),
        }
    }
}

/// One output line.
pub struct Out(pub String);
