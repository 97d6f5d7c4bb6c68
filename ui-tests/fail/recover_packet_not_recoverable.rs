use evoflow::{component, Outputs};

#[derive(Default)]
pub struct Relay;

#[component(outputs(out: u64))]
impl Relay {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }

    #[recover(inp)]
    fn failed(&mut self, _x: u64) {}
}

fn main() {}
