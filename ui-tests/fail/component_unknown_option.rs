use evoflow::component;

struct Sink;

#[component(verison = 2)]
impl Sink {
    #[input]
    fn inp(&mut self, _x: u64) {}
}

fn main() {}
