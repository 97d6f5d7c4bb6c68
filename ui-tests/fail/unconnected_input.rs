use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        merge: Merge;
        sum: Sum;
        numbers.out -> merge.left;
        merge.out -> sum.inp;
    };
}
