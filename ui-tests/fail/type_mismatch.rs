use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        words: Words;
        sum: Sum;
        words.out -> sum.inp;
    };
}
