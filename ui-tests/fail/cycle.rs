use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        merge: Merge;
        double: Double;
        split: Split;
        sum: Sum;
        numbers.out -> merge.left;
        merge.out -> double.inp;
        double.out -> split.inp;
        split.even -> merge.right;
        split.odd -> sum.inp;
    };
}
