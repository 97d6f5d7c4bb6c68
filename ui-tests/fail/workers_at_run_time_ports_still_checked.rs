use evoflow::graph;
#[allow(unused_imports)]
use evoflow_ui_tests::*;

// A worker count known only at run time leaves every other check at
// compile time.
fn main() {
    let workers = 2;
    let _ = graph! {
        workers = workers;
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.total;
    };
}
