//! A count over two machines, built as a component library that its hosts
//! reload live: `numbers` on `front` makes numbered packets, `tally` on
//! `back` keeps a running sum of them, `print` (on `back` with it) writes
//! one line per packet to stdout. The arc `numbers -> tally` is a gRPC
//! stream between the machines.

mod numbers;
mod print;
mod tally;
mod types;

use evoflow::{graph, Program};

/// The program; runs again on every reload to describe the new one.
pub fn program() -> Program {
    graph! {
        name = "count";
        machines = { front: 1, back: 1 };
        #[machine(front)]
        numbers: numbers::Numbers = numbers::Numbers::default();
        #[machine(back)]
        tally: tally::Tally;
        print: print::Print;
        numbers.out -> tally.inp;
        tally.out -> print.inp;
    }
}

evoflow::library!(program);
