//! The longer texts: how a live update works, what it guarantees and how
//! that is checked, and what reloading from a rebuild asks of a library.
//! Each is a Markdown file beside this one (readable on its own, e.g. on
//! a forge), and every example in it runs as a doctest.

#[doc = include_str!("how_it_works.md")]
pub mod how_it_works {}

#[doc = include_str!("guarantees.md")]
pub mod guarantees {}

#[cfg(feature = "reload")]
#[doc = include_str!("reload_constraints.md")]
pub mod reload_constraints {}
