//! Several concrete impls of one generic type are several components.
use evoflow::{component, graph, Flow, Outputs};
use std::marker::PhantomData;

#[derive(Default)]
struct Emit<T>(Vec<T>);

#[component(outputs(out: u64))]
impl Emit<u64> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        match self.0.pop() {
            Some(x) => {
                out.out(x);
                Flow::Continue
            }
            None => Flow::Done,
        }
    }
}

#[component(outputs(out: String))]
impl Emit<String> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        match self.0.pop() {
            Some(x) => {
                out.out(x);
                Flow::Continue
            }
            None => Flow::Done,
        }
    }
}

#[derive(Default)]
struct Forward<T>(PhantomData<T>);

#[component(outputs(out: u64))]
impl Forward<u64> {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

#[component(outputs(out: String))]
impl Forward<String> {
    #[input]
    fn inp(&mut self, x: String, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

#[derive(Default)]
struct Keep<T>(Vec<T>);

#[component]
impl Keep<u64> {
    #[input]
    fn inp(&mut self, x: u64) {
        self.0.push(x);
    }
}

#[component]
impl Keep<String> {
    #[input]
    fn inp(&mut self, x: String) {
        self.0.push(x);
    }
}

pub fn main() {
    let mut report = graph! {
        workers = 2;
        numbers: Emit<u64> = Emit(vec![3, 2, 1]);
        words: Emit<String> = Emit(vec!["b".to_owned(), "a".to_owned()]);
        f: Forward<u64>;
        g: Forward<String>;
        n: Keep<u64>;
        w: Keep<String>;
        numbers.out -> f.inp; f.out -> n.inp;
        words.out -> g.inp; g.out -> w.inp;
    }
    .run_to_end()
    .unwrap();
    assert_eq!(report.take::<Keep<u64>>("n").unwrap().0, [1, 2, 3]);
    assert_eq!(report.take::<Keep<String>>("w").unwrap().0, ["a", "b"]);
    assert_eq!(
        <Forward<u64> as evoflow::Component>::META.name,
        "Forward<u64>"
    );
    assert_eq!(
        <Forward<String> as evoflow::Component>::META.name,
        "Forward<String>"
    );
}
