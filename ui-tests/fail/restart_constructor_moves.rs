use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    // A restarted instance's constructor runs again on each restart, so
    // it cannot move what it uses.
    let numbers = Numbers::upto(10);
    let _ = graph! {
        #[on_panic(restart)]
        numbers: Numbers = numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
