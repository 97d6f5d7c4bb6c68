use evoflow::{graph, Program};
use evoflow_ui_tests::*;

pub fn main() {
    let program: Program = graph! {
        name = "split";
        machines = { front: 1, back: 2 };
        #[machine(front)]
        numbers: Numbers = Numbers::upto(10);
        #[machine(back)]
        twice: Double;
        // Placed with its neighbours, on back.
        sum: Sum;
        numbers.out -> twice.inp;
        twice.out -> sum.inp;
    };
    let machines: Vec<_> = program.machines().collect();
    assert_eq!(machines, [("front", 1), ("back", 2)]);
}
