#[allow(unused_imports)]
use evoflow::{component, Outputs};

struct Twice;

#[component(outputs(out: u64, out: u64))]
impl Twice {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

fn main() {}
