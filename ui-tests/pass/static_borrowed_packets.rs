//! A packet that borrows only for `'static` is owned enough to be moved
//! along an arc: `&'static str` is accepted, like any `Send + 'static` type.
use evoflow::{component, graph, Flow, Outputs};

#[derive(Default)]
struct Greet(bool);

#[component(outputs(out: &'static str))]
impl Greet {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if std::mem::replace(&mut self.0, true) {
            return Flow::Done;
        }
        out.out("hello");
        Flow::Continue
    }
}

#[derive(Default)]
struct Heard(Vec<&'static str>);

#[component]
impl Heard {
    #[input]
    fn inp(&mut self, word: &'static str) {
        self.0.push(word);
    }
}

pub fn main() {
    let mut report = graph! { g: Greet; h: Heard; g.out -> h.inp; }
        .run_to_end()
        .unwrap();
    assert_eq!(report.take::<Heard>("h").unwrap().0, ["hello"]);
}
