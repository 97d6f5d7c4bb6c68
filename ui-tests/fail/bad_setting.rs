use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        threads = 2;
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
