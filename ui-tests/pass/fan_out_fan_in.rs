use evoflow::graph;
use evoflow_ui_tests::*;

pub fn main() {
    let graph = graph! {
        name = "diamond";
        workers = 2;
        capacity = 8;
        numbers: Numbers = Numbers::upto(10_000);
        split: Split;
        twice: Double;
        merge: Merge;
        sum: Sum;
        numbers.out -> split.inp;
        split.even -> twice.inp;
        twice.out -> merge.left;
        #[capacity(3)]
        split.odd -> merge.right;
        merge.out -> sum.inp;
    };
    let mut report = graph.run_to_end().unwrap();
    let even: u64 = (0..10_000).filter(|x| x % 2 == 0).sum();
    let odd: u64 = (0..10_000).filter(|x| x % 2 == 1).sum();
    assert_eq!(report.take::<Sum>("sum").unwrap().total, 2 * even + odd);
}
