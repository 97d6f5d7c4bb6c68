use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

#[derive(Default)]
struct Plain;

fn main() {
    let _ = graph! {
        numbers: Numbers;
        plain: Plain;
        numbers.out -> plain.inp;
    };
}
