//! A word count served over TCP, built as a component library that its
//! host reloads live: `lines` reads `<seq> <word>` lines from clients,
//! `parse` makes events of them, `tally` counts words, `print` writes one
//! line per event to stdout.

mod lines;
mod parse;
mod print;
mod tally;
mod types;

use evoflow::{graph, Graph};

/// The program's graph; runs again on every reload to describe the new one.
pub fn graph() -> Graph {
    graph! {
        name = "wordcount";
        workers = 2;
        lines: lines::Lines;
        parse: parse::Parse;
        tally: tally::Tally;
        print: print::Print;
        lines.out -> parse.inp;
        parse.out -> tally.inp;
        tally.out -> print.inp;
    }
}

evoflow::library!(graph);
