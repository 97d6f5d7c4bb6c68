use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        on_panic = restart(max = 5, within = 10);
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
