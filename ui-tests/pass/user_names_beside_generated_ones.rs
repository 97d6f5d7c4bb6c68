//! The glue of a component takes no name a user could write: a type named
//! like the ports of a component (`RenderOutputs` beside `Render`), or
//! `Inputs`/`Outputs`, is the user's own.
use evoflow::{component, graph, Flow, Outputs};

/// Not generated: the user's own type, used as a packet.
#[derive(Default, Debug, PartialEq)]
struct RenderOutputs {
    pages: u32,
}

#[allow(dead_code)]
struct __RenderInputs;
#[allow(dead_code)]
struct Inputs;

#[derive(Default)]
struct Render(u32);

#[component(outputs(out: RenderOutputs))]
impl Render {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.0 == 2 {
            return Flow::Done;
        }
        self.0 += 1;
        out.out(RenderOutputs { pages: self.0 });
        Flow::Continue
    }
}

#[derive(Default)]
struct Collect(Vec<RenderOutputs>);

#[component]
impl Collect {
    #[input]
    fn inp(&mut self, x: RenderOutputs) {
        self.0.push(x);
    }
}

pub fn main() {
    let mut report = graph! { r: Render; c: Collect; r.out -> c.inp; }
        .run_to_end()
        .unwrap();
    let pages: Vec<u32> = report
        .take::<Collect>("c")
        .unwrap()
        .0
        .iter()
        .map(|p| p.pages)
        .collect();
    assert_eq!(pages, [1, 2]);
}
