//! Makes numbered packets, one a millisecond (about: the source waits in
//! between without holding its worker).

use crate::types::Number;
use evoflow::{component, Flow, Outputs};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Default, Serialize, Deserialize)]
pub struct Numbers {
    next: u64,
}

#[component(version = 1, state, outputs(out: Number))]
impl Numbers {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        out.out(Number {
            seq: self.next,
            made_by: 1,
        });
        self.next += 1;
        Flow::after(Duration::from_millis(1))
    }
}
