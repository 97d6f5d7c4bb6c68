#[allow(unused_imports)]
use evoflow::{component, Outputs};

#[derive(Default)]
struct Show;

#[component(outputs(out: impl std::fmt::Display))]
impl Show {
    #[input]
    fn inp(&mut self, x: impl std::fmt::Display) {
        let _ = x.to_string();
    }
}

fn main() {}
