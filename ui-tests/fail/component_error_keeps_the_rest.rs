//! A mistake in one handler is reported alone: the rest of the component
//! still exists, so its methods and its use in a graph add no errors.
#[allow(unused_imports)]
use evoflow::{component, graph, Outputs};
#[allow(unused_imports)]
use evoflow_ui_tests::*;

#[derive(Default)]
struct Relay {
    seen: u64,
}

impl Relay {
    fn seen(&self) -> u64 {
        self.seen
    }
}

#[component(outputs(out: u64))]
impl Relay {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.seen += 1;
        out.out(x);
    }

    #[input]
    fn other(&mut self, x: u64, out: &mut u64) {
        *out = x;
    }

    fn total(&self) -> u64 {
        self.seen()
    }
}

fn main() {
    let mut report = graph! {
        numbers: Numbers = Numbers::upto(3);
        relay: Relay;
        sum: Sum;
        numbers.out -> relay.inp;
        relay.out -> sum.inp;
    }
    .run_to_end()
    .unwrap();
    let _ = report.take::<Relay>("relay").unwrap().total();
}
