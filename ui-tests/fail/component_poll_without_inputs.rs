#[allow(unused_imports)]
use evoflow::{component, Flow, Outputs};

struct Ticker;

#[component(outputs(out: u64))]
impl Ticker {
    #[poll]
    fn tick(&mut self, _out: &mut Outputs<Self>) -> Flow {
        Flow::Done
    }
}

fn main() {}
