#[allow(unused_imports)]
use evoflow::{component, Flow, Outputs};

struct Both;

#[component(outputs(out: u64))]
impl Both {
    #[source]
    fn emit(&mut self, _out: &mut Outputs<Self>) -> Flow {
        Flow::Done
    }
    #[input]
    fn inp(&mut self, _x: u64) {}
}

fn main() {}
