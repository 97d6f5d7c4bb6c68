use evoflow::component;

struct Idle;

#[component]
impl Idle {
    fn helper(&self) {}
}

fn main() {}
