use evoflow::graph;
use evoflow_ui_tests::*;

/// The worker count is any `usize` expression: here the machine's cores.
pub fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for workers in [1, 2, cores] {
        let graph = graph! {
            workers = workers;
            #[worker(0)]
            a: Numbers = Numbers::upto(100);
            #[cost(5)]
            b: Numbers = Numbers::upto(10);
            sum: Sum;
            a.out -> sum.inp;
            b.out -> sum.inp;
        };
        let schedule = graph.schedule();
        assert_eq!(schedule.sections.len(), workers);
        assert_eq!(schedule.sections[0][0].name, "a");
        let mut report = graph.run_to_end().unwrap();
        assert_eq!(report.take::<Sum>("sum").unwrap().total, 4950 + 45);
    }
}
