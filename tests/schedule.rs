//! The static schedule computed by graph!, its printed and DOT forms, and
//! the run-time checks of the hand-written builder.

mod common;

use common::*;
use evoflow::{component, graph, BuildError, Flow, GraphBuilder, GraphError, Side};

#[test]
fn a_linear_pipeline_is_cut_once_into_balanced_sections() {
    let g = graph! {
        name = "six";
        workers = 2;
        src: Source = Source::new(0, 1);
        a: Relay; b: Relay; c: Relay; d: Relay;
        check: Check = Check::new(1, 0, 1);
        src.out -> a.inp; a.out -> b.inp; b.out -> c.inp; c.out -> d.inp; d.out -> check.inp;
    };
    let s = g.schedule();
    let names: Vec<Vec<&str>> = s
        .sections
        .iter()
        .map(|sec| sec.iter().map(|i| i.name.as_str()).collect())
        .collect();
    assert_eq!(names, vec![vec!["src", "a", "b"], vec!["c", "d", "check"]]);
    assert_eq!(s.arcs.iter().filter(|a| a.cross_section).count(), 1);
    let text = s.to_string();
    assert!(
        text.contains("graph `six`: 2 workers, 6 instances, 5 arcs (1 cross-section)"),
        "{text}"
    );
    assert!(
        text.contains("b.out -> c.inp  [ring, capacity 1024, "),
        "{text}"
    );
    let dot = s.to_dot();
    assert!(dot.starts_with("digraph \"six\" {"));
    assert!(dot.contains("subgraph cluster_1"));
    assert!(dot.contains("\"b\" -> \"c\""));
    g.run_to_end().unwrap();
}

#[test]
fn cost_hints_and_placement_shape_the_schedule() {
    let g = graph! {
        workers = 2;
        src: Source = Source::new(0, 1);
        #[cost(4)]
        heavy: Relay;
        a: Relay;
        b: Relay;
        check: Check = Check::new(1, 0, 1);
        src.out -> heavy.inp; heavy.out -> a.inp; a.out -> b.inp; b.out -> check.inp;
    };
    // src + heavy (5) against a + b + check (3) beats any other cut.
    assert_eq!(
        sections(&g),
        vec![vec!["src", "heavy"], vec!["a", "b", "check"]]
    );
    g.run_to_end().unwrap();

    let g = graph! {
        workers = 3;
        #[worker(2)]
        src: Source = Source::new(0, 1);
        a: Relay;
        check: Check = Check::new(1, 0, 1);
        src.out -> a.inp; a.out -> check.inp;
    };
    assert_eq!(sections(&g)[2][0], "src");
    g.run_to_end().unwrap();
}

#[test]
fn a_heavy_pinned_worker_leaves_the_rest_uncut() {
    // Worker 2 carries 101 whatever the cut, so the chain's cost does not
    // matter: the best schedule keeps the chain on one worker, with no ring.
    let g = graph! {
        workers = 3;
        s: Source = Source::new(0, 1_000);
        a: Relay;
        b: Relay;
        c: Check = Check::new(1, 0, 1);
        #[worker(2)]
        #[cost(100)]
        p: Source = Source::new(0, 10);
        #[worker(2)]
        q: Check = Check::new(1, 0, 1);
        s.out -> a.inp; a.out -> b.inp; b.out -> c.inp; p.out -> q.inp;
    };
    let cross: Vec<_> = g
        .schedule()
        .arcs
        .into_iter()
        .filter(|a| a.cross_section)
        .collect();
    assert!(
        cross.is_empty(),
        "{:?}",
        cross.iter().map(|a| &a.from).collect::<Vec<_>>()
    );
    g.run_to_end().unwrap();
}

fn sections(g: &evoflow::Graph) -> Vec<Vec<String>> {
    g.schedule()
        .sections
        .iter()
        .map(|sec| sec.iter().map(|i| i.name.clone()).collect())
        .collect()
}

/// A component without ports.
struct Idle;

#[component]
impl Idle {
    #[source]
    fn tick(&mut self) -> Flow {
        Flow::Done
    }
}

/// Two instances of one name, or an instance (even one without ports) on
/// a worker that does not exist, are refused by `build`, not merged or
/// panicked on.
#[test]
fn the_builder_refuses_a_name_used_twice_and_a_worker_that_does_not_exist() {
    let mut b = GraphBuilder::new("twice", 1);
    let src = b.instance("src", 0, Source::new(0, 1));
    let check = b.instance("src", 0, Check::new(1, 0, 1));
    b.connect::<Seq>(src, 0, check, 0, 4).unwrap();
    let e = b.build().err().expect("a name used twice");
    assert_eq!(
        e,
        BuildError::Graph(Box::new(GraphError::DuplicateInstance {
            name: "src".into()
        }))
    );

    let mut b = GraphBuilder::new("nowhere", 1);
    b.instance("lonely", 3, Idle);
    match b.build().err().expect("worker 3 does not exist") {
        BuildError::Graph(e) => assert_eq!(
            *e,
            GraphError::NoSuchWorker {
                instance: "lonely".into(),
                worker: 3,
                workers: 1
            }
        ),
        other => panic!("{other}"),
    }
}

#[test]
fn the_builder_checks_at_run_time_what_graph_checks_at_compile_time() {
    let mut b = GraphBuilder::new("by hand", 1);
    let src = b.instance("src", 0, Source::new(0, 1));
    let check = b.instance("check", 0, Check::new(1, 0, 1));
    let rule = |e: BuildError| match e {
        BuildError::Graph(e) => *e,
        other => panic!("expected a graph rule, got {other}"),
    };
    assert!(matches!(
        rule(b.connect::<u64>(src, 0, check, 0, 4).unwrap_err()),
        GraphError::TypeMismatch { arc, found, .. } if arc == "src.out -> check.inp" && found == "u64"
    ));
    assert!(matches!(
        rule(b.connect::<Seq>(src, 1, check, 0, 4).unwrap_err()),
        GraphError::NoSuchPortNumber {
            side: Side::Output,
            number: 1,
            ..
        }
    ));
    let e = b.build().err().unwrap();
    assert_eq!(
        e.to_string(),
        "output `src.out` has no arc, so its packets would be lost; connect it"
    );

    let mut b = GraphBuilder::new("loop", 2);
    let merge = b.instance("merge", 0, Merge);
    let split = b.instance("split", 1, Split);
    b.connect::<Seq>(merge, 0, split, 0, 4).unwrap();
    b.connect::<Seq>(split, 0, merge, 0, 4).unwrap();
    b.connect::<Seq>(split, 1, merge, 1, 4).unwrap();
    let e = b.connect::<Seq>(split, 1, merge, 1, 4).err().unwrap();
    assert!(e
        .to_string()
        .starts_with("output `split.odd` has 2 arcs; packets are moved, not cloned"));
    match rule(b.build().err().expect("a cycle")) {
        GraphError::Cycle { instances, .. } => assert_eq!(instances.len(), 2),
        other => panic!("expected a cycle, got {other}"),
    }
}

/// One graph, on `$workers` workers: pinned, cost-hinted, fan-in, declared
/// out of topological order (which is the run order within a worker).
macro_rules! two_streams {
    ($workers:expr) => {
        graph! {
            name = "two streams";
            workers = $workers;
            #[worker(0)]
            check: Check = Check::new(2, 0, 1);
            merge: Merge;
            b: Relay;
            #[cost(3)]
            heavy: Relay;
            a: Relay;
            s1: Source = Source::new(1, 20_000);
            s0: Source = Source::new(0, 20_000);
            s0.out -> a.inp; a.out -> merge.left;
            s1.out -> heavy.inp; heavy.out -> b.inp; b.out -> merge.right;
            merge.out -> check.inp;
        }
    };
}

#[test]
fn a_worker_count_known_at_run_time_gets_the_schedule_a_literal_gets() {
    let literal = [two_streams!(1), two_streams!(2), two_streams!(3)];
    for (n, literal) in (1..=3).zip(literal) {
        let g = two_streams!(n);
        assert_eq!(sections(&g), sections(&literal), "{n} workers");
        assert_eq!(g.schedule().sections.len(), n);
        // Every packet arrives, in order per stream (`Check` asserts it).
        let check = g.run_to_end().unwrap().take::<Check>("check").unwrap();
        assert_eq!((check.received, check.ended), (40_000, true), "{n} workers");
    }
}

#[test]
#[should_panic(
    expected = "evoflow: graph `none` was given `workers = 0` at run time; it needs at least 1 worker"
)]
fn a_run_time_worker_count_of_zero_is_refused() {
    let workers = 0;
    let _ = graph! {
        name = "none";
        workers = workers;
        src: Source = Source::new(0, 1);
        check: Check = Check::new(1, 0, 1);
        src.out -> check.inp;
    };
}

#[test]
#[should_panic(
    expected = "evoflow: graph `pinned` was given `workers = 2` at run time, but instance `check` is pinned to worker 2 by `#[worker(2)]` (workers are numbered from 0): give it at least 3 workers"
)]
fn a_pin_beyond_the_run_time_worker_count_is_refused() {
    let workers = 2;
    let _ = graph! {
        name = "pinned";
        workers = workers;
        src: Source = Source::new(0, 1);
        #[worker(2)]
        check: Check = Check::new(1, 0, 1);
        src.out -> check.inp;
    };
}
