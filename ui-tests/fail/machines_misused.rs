#[allow(unused_imports)]
use evoflow_ui_tests::*;

fn main() {
    // A machine the graph does not list.
    let _ = evoflow::graph! {
        machines = { front: 1, back: 2 };
        numbers: Numbers;
        #[machine(middle)]
        sum: Sum;
        numbers.out -> sum.inp;
    };
    // `#[machine]` without `machines`.
    let _ = evoflow::graph! {
        numbers: Numbers;
        #[machine(back)]
        sum: Sum;
        numbers.out -> sum.inp;
    };
    // `workers` beside `machines`; a pin past its machine's workers.
    let _ = evoflow::graph! {
        workers = 2;
        machines = { front: 1, back: 2 };
        #[machine(front)]
        #[worker(1)]
        numbers: Numbers;
        sum: Sum;
        numbers.out -> sum.inp;
    };
}
