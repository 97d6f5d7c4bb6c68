//! A small evoflow program: numbers fan out by parity to two workers' worth
//! of stages and fan back in to a sink that checks and summarises them.
//!
//!     cargo run --release --example pipeline            # run, print schedule and rate
//!     cargo run --release --example pipeline -- --dot   # print the schedule as Graphviz DOT

use evoflow::{component, graph, Flow, Outputs};
use std::time::Instant;

/// Emits 0..n.
struct Count {
    next: u64,
    n: u64,
}

#[component(outputs(out: u64))]
impl Count {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.n {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}

/// Fan-out: even numbers one way, odd ones the other.
#[derive(Default)]
struct Parity;

#[component(outputs(even: u64, odd: u64))]
impl Parity {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        if x.is_multiple_of(2) {
            out.even(x)
        } else {
            out.odd(x)
        }
    }
}

/// Squares its input.
#[derive(Default)]
struct Square;

#[component(outputs(out: u64))]
impl Square {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x * x)
    }
}

/// Fan-in: two inputs, one output; remembers how many came from each side.
#[derive(Default)]
struct Join {
    left: u64,
    right: u64,
}

#[component(version = 2, outputs(out: u64))]
impl Join {
    #[input]
    fn evens(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.left += 1;
        out.out(x)
    }
    #[input]
    fn odds(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.right += 1;
        out.out(x)
    }
}

/// Sink: sums everything, prints a summary at end of stream.
#[derive(Default)]
struct Total {
    sum: u64,
    packets: u64,
}

#[component]
impl Total {
    #[input]
    fn inp(&mut self, x: u64) {
        self.sum = self.sum.wrapping_add(x);
        self.packets += 1;
    }
    #[on_end]
    fn done(&mut self) {
        println!("total: {} packets, sum {}", self.packets, self.sum);
    }
}

fn main() {
    const N: u64 = 20_000_000;
    let graph = graph! {
        name = "pipeline";
        workers = 2;
        count: Count = Count { next: 0, n: N };
        parity: Parity;
        square: Square;
        join: Join;
        total: Total;
        count.out -> parity.inp;
        parity.even -> square.inp;
        square.out -> join.evens;
        parity.odd -> join.odds;
        join.out -> total.inp;
    };
    if std::env::args().any(|a| a == "--dot") {
        print!("{}", graph.schedule().to_dot());
        return;
    }
    print!("{}", graph.schedule());
    let start = Instant::now();
    let mut report = graph.run_to_end().expect("the pipeline runs");
    let secs = start.elapsed().as_secs_f64();
    let join = report.take::<Join>("join").expect("join is a Join");
    println!(
        "even {} / odd {}; {:.1} M packets/s through 5 stages on 2 workers",
        join.left,
        join.right,
        N as f64 / secs / 1e6
    );
}
