use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let workers = "2";
    let _ = graph! {
        workers = workers;
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
