use evoflow::component;

struct Sink;

#[component]
impl Sink {
    #[input]
    fn inp(&mut self) {}
}

fn main() {}
