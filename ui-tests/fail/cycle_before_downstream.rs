#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = evoflow::graph! {
        numbers: Numbers;
        merge: Merge;
        double: Double;
        split: Split;
        sum: Sum;
        numbers.out -> merge.left;
        merge.out -> double.inp;
        double.out -> split.inp;
        split.odd -> sum.inp;
        split.even -> merge.right;
    };
}
