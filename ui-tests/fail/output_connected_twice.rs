use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        a: Sum;
        b: Sum;
        numbers.out -> a.inp;
        numbers.out -> b.inp;
    };
}
