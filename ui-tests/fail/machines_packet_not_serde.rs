use evoflow::{component, graph, Flow, Outputs};

/// Not a serde type.
pub struct Opaque(pub u64);

#[derive(Default)]
pub struct Make;

#[component(outputs(out: Opaque))]
impl Make {
    #[source]
    fn make(&mut self, out: &mut Outputs<Self>) -> Flow {
        out.out(Opaque(1));
        Flow::Done
    }
}

#[derive(Default)]
pub struct Take;

#[component]
impl Take {
    #[input]
    fn inp(&mut self, _x: Opaque) {}
}

fn main() {
    // Within one machine any packet type goes; across machines it must be serde.
    let _ = graph! {
        machines = { front: 1, back: 1 };
        #[machine(front)]
        make: Make;
        #[machine(back)]
        take: Take;
        make.out -> take.inp;
    };
}
