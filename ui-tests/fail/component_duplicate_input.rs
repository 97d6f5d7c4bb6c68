use evoflow::component;

#[derive(Default)]
struct Sink;

#[component]
impl Sink {
    #[input]
    fn inp(&mut self, _x: u64) {}

    #[input]
    fn inp(&mut self, _x: String) {}
}

fn main() {}
