use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        workers = 2;
        numbers: Numbers;
        #[worker(2)]
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
