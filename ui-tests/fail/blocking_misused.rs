#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    // Pinned and blocking at once.
    let _ = evoflow::graph! {
        numbers: Numbers;
        #[blocking]
        #[worker(0)]
        sum: Sum;
        numbers.out -> sum.inp;
    };
    // With an argument.
    let _ = evoflow::graph! {
        #[blocking(2)]
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
