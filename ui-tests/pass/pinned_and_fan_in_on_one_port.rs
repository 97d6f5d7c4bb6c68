use evoflow::graph;
use evoflow_ui_tests::*;

pub fn main() {
    let graph = graph! {
        workers = 3;
        #[worker(2)]
        a: Numbers = Numbers::upto(100);
        #[cost(5)]
        b: Numbers = Numbers::upto(10);
        sum: Sum;
        a.out -> sum.inp;
        b.out -> sum.inp;
    };
    assert_eq!(graph.schedule().sections[2][0].name, "a");
    let mut report = graph.run_to_end().unwrap();
    assert_eq!(report.take::<Sum>("sum").unwrap().total, 4950 + 45);
}
