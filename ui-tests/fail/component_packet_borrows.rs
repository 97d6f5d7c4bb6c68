#[allow(unused_imports)]
use evoflow::{component, graph, Outputs};

#[derive(Default)]
struct Names;

#[component(outputs(out: &u64))]
impl Names {
    #[input]
    fn inp(&mut self, name: &str, out: &mut Outputs<Self>) {
        let _ = name;
        out.out(&7);
    }
}

fn main() {}
