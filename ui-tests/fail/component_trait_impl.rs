use evoflow::component;

struct Sink;

#[component]
impl Default for Sink {
    fn default() -> Self {
        Sink
    }
}

fn main() {}
