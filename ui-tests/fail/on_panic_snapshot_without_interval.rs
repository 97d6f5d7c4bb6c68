use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        #[on_panic(snapshot(max = 3))]
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
