#[allow(unused_imports)]
use evoflow::{component, Outputs};

#[derive(Default)]
struct Sink;

#[component]
impl Sink {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

#[derive(Default)]
struct Echo;

#[component(outputs(out: u64))]
impl Echo {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.ouput(x);
    }
}

fn main() {}
