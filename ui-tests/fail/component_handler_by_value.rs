use evoflow::component;

struct Sink;

#[component]
impl Sink {
    #[input]
    fn inp(self, _x: u64) {}
}

fn main() {}
