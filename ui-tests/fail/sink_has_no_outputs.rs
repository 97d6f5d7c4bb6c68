use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        sum: Sum;
        other: Sum;
        numbers.out -> sum.inp;
        sum.out -> other.inp;
    };
}
