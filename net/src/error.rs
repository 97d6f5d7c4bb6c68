//! Why an arc between machines stopped.

use std::fmt;

/// Why an arc between machines cannot go on. Both ends report it: the
/// stream is reliable and in order until it fails, and then it fails
/// loudly on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetError {
    /// The peer went away, the connection broke or timed out (HTTP/2
    /// keepalive), or the peer refused the stream; the text is the
    /// transport's.
    Disconnected(String),
    /// The stream ended without the end-of-stream item: the sending side
    /// stopped in the middle.
    Truncated,
    /// The peer refused the stream: the arc is not received there (not
    /// within the wait for it to be), or it has a stream already.
    Refused(String),
    /// The receiving end closed the arc before the end of the stream.
    Closed,
    /// A batch that cannot be read (a peer of another build).
    Malformed(String),
    /// A packet that cannot be encoded (serde refused it).
    Encode(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Disconnected(why) => write!(f, "the arc's peer is unreachable: {why}"),
            NetError::Truncated => f.write_str("the arc's stream ended before its end-of-stream"),
            NetError::Refused(why) => write!(f, "the peer refused the arc's stream: {why}"),
            NetError::Closed => {
                f.write_str("the receiving end closed the arc before its end-of-stream")
            }
            NetError::Malformed(why) => write!(
                f,
                "a batch from the peer cannot be read ({why}); do both machines run the same build?"
            ),
            NetError::Encode(why) => write!(f, "a packet cannot be encoded: {why}"),
        }
    }
}

impl std::error::Error for NetError {}
