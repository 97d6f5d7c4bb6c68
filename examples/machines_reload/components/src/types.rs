//! The packets.

use serde::{Deserialize, Serialize};

/// A numbered packet, and the version of `numbers` that made it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Number {
    pub seq: u64,
    pub made_by: u32,
}

/// A line to print.
#[derive(Clone, Debug)]
pub struct Line(pub String);
