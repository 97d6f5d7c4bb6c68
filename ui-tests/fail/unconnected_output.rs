use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        split: Split;
        sum: Sum;
        numbers.out -> split.inp;
        split.even -> sum.inp;
    };
}
