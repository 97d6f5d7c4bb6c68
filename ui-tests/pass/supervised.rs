use evoflow::graph;
use evoflow_ui_tests::*;

pub fn main() {
    let n = 1_000;
    let graph = graph! {
        on_panic = resume(max = 10, within = 500ms);
        #[on_panic(restart(max = 3, within = 10s))]
        numbers: Numbers = Numbers::upto(n);
        #[on_panic(stop)]
        twice: Double;
        sum: Sum;
        numbers.out -> twice.inp;
        twice.out -> sum.inp;
    };
    let mut report = graph.run_to_end().unwrap();
    assert_eq!(report.take::<Sum>("sum").unwrap().total, n * (n - 1));
}
