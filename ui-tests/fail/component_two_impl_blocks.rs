#[allow(unused_imports)]
use evoflow::{component, Outputs};

#[derive(Default)]
struct Stats {
    count: u64,
}

#[component(outputs(total: u64))]
impl Stats {
    #[input]
    fn count(&mut self, _x: u64, out: &mut Outputs<Self>) {
        self.count += 1;
        out.total(self.count);
    }
}

#[component]
impl Stats {
    #[input]
    fn reset(&mut self, (): ()) {
        self.count = 0;
    }
}

fn main() {}
