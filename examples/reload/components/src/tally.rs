//! Counts words. Version 1.

use crate::types::{Event, Out};
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Default, Serialize, Deserialize)]
pub struct Tally {
    counts: BTreeMap<String, u64>,
}

#[component(version = 1, state, outputs(out: Out))]
impl Tally {
    #[input]
    fn inp(&mut self, e: Event, out: &mut Outputs<Self>) {
        let count = self.counts.entry(e.word.clone()).or_default();
        *count += 1;
        out.out(Out(format!("{} {} {}", e.seq, e.word, count)));
    }
}
