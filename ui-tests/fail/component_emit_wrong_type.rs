#[allow(unused_imports)]
use evoflow::{component, Outputs};

struct Echo;

#[component(outputs(out: String))]
impl Echo {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

fn main() {}
