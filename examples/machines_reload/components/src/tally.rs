//! Sums the numbers it is given.

use crate::types::{Line, Number};
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
pub struct Tally {
    sum: u64,
}

#[component(version = 1, state, outputs(out: Line))]
impl Tally {
    #[input]
    fn inp(&mut self, n: Number, out: &mut Outputs<Self>) {
        self.sum += n.seq;
        out.out(Line(format!(
            "{} made_by={} tally=1 sum={}",
            n.seq, n.made_by, self.sum
        )));
    }
}
