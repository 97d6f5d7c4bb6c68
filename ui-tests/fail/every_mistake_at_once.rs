use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        split: Split;
        a: Sum;
        b: Sum;
        numbers.out -> split.inp;
        split.even -> a.inp;
        split.odds -> b.inp;
        split.even -> b.inp;
        numbrs.out -> a.inp;
    };
}
