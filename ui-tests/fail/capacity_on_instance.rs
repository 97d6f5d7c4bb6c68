#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    let _ = evoflow::graph! {
        numbers: Numbers;
        #[capacity(2)]
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
