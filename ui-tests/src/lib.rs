//! Components shared by the ui tests in `fail/` and `pass/`, which check
//! every diagnostic of `#[component]` and `graph!` with trybuild.

use evoflow::{component, Flow, Outputs};

/// Emits 0..n.
#[derive(Default)]
pub struct Numbers {
    next: u64,
    n: u64,
}

impl Numbers {
    /// A source of 0..n.
    pub fn upto(n: u64) -> Self {
        Numbers { next: 0, n }
    }
}

#[component(outputs(out: u64))]
impl Numbers {
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

/// Emits nothing, as strings.
#[derive(Default)]
pub struct Words;

#[component(outputs(out: String))]
impl Words {
    #[source]
    fn emit(&mut self, _out: &mut Outputs<Self>) -> Flow {
        Flow::Done
    }
}

/// Doubles numbers.
#[derive(Default)]
pub struct Double;

#[component(outputs(out: u64))]
impl Double {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(2 * x);
    }
}

/// Splits numbers by parity.
#[derive(Default)]
pub struct Split;

#[component(outputs(even: u64, odd: u64))]
impl Split {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        if x.is_multiple_of(2) {
            out.even(x)
        } else {
            out.odd(x)
        }
    }
}

/// Merges two streams.
#[derive(Default)]
pub struct Merge;

#[component(outputs(out: u64))]
impl Merge {
    #[input]
    fn left(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
    #[input]
    fn right(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

/// Sums numbers.
#[derive(Default)]
pub struct Sum {
    /// Sum so far.
    pub total: u64,
}

#[component]
impl Sum {
    #[input]
    fn inp(&mut self, x: u64) {
        self.total += x;
    }
}

/// Counts strings.
#[derive(Default)]
pub struct CountWords {
    /// Strings seen.
    pub seen: usize,
}

#[component]
impl CountWords {
    #[input]
    fn inp(&mut self, _w: String) {
        self.seen += 1;
    }
}
