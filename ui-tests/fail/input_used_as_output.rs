use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        double: Double;
        sum: Sum;
        numbers.out -> double.inp;
        double.inp -> sum.inp;
    };
}
