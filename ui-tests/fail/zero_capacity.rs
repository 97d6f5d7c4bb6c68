use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        sum: Sum;
        #[capacity(0)]
        numbers.out -> sum.inp;
    };
}
