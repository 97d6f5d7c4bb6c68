//! Evolving a running graph into another graph (what a reload applies):
//! the fate of each instance, the structural diff, and that the stream
//! passes the update without loss, duplication or reordering.

mod common;

use common::{within, Check, Relay, Seq, Source};
use evoflow::{component, graph, EvolutionError, Fate, Outputs};
use std::time::Duration;

const N: u64 = 1_000_000;
const LIMIT: Duration = Duration::from_secs(60);

/// Another implementation of a relay stage.
#[derive(Default)]
struct Forward;

#[component(version = 2, outputs(out: Seq))]
impl Forward {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(p);
    }
}

#[test]
fn a_graph_evolves_into_another_with_inserts_removes_and_replacements() {
    within(LIMIT, || {
        let running = graph! {
            workers = 2;
            src: Source = Source::new(0, N);
            a: Relay;
            x: Relay;
            check: Check = Check::new(1, 0, 1);
            src.out -> a.inp;
            a.out -> x.inp;
            x.out -> check.inp;
        }
        .run()
        .unwrap();
        let target = graph! {
            workers = 2;
            src: Source = Source::new(0, N);
            a: Forward;
            y: Relay;
            check: Check = Check::new(1, 0, 1);
            src.out -> a.inp;
            a.out -> y.inp;
            y.out -> check.inp;
        };
        let evolution = running.evolution(target).unwrap();
        let fates: Vec<(&str, Fate)> = evolution
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.fate))
            .collect();
        assert_eq!(
            fates,
            [
                ("src", Fate::Kept),
                ("a", Fate::Replaced { migrated: false }),
                ("y", Fate::Inserted),
                ("check", Fate::Kept),
                ("x", Fate::Removed),
            ]
        );
        let report = running.update(evolution.into_update()).unwrap();
        assert_eq!(report.inserted, ["y"]);
        assert_eq!(report.removed, ["x"]);
        let mut connected = report.connected.clone();
        connected.sort();
        assert_eq!(connected, ["a.out -> y.inp", "y.out -> check.inp"]);
        let names: Vec<String> = running.instances().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["src", "a", "check", "y"]);
        let mut report = running.join().unwrap();
        let check = report.take::<Check>("check").unwrap();
        assert_eq!(check.received, N, "every packet arrives once, in order");
        assert!(check.ended);
    });
}

#[test]
fn the_same_graph_is_an_empty_evolution_and_another_worker_count_is_refused() {
    let build = |n| {
        graph! {
            workers = 2;
            src: Source = Source::new(0, n);
            check: Check = Check::new(1, 0, 1);
            src.out -> check.inp;
        }
    };
    let running = build(0).run().unwrap();
    let same = running.evolution(build(0)).unwrap();
    assert!(same.is_empty());
    assert!(same.instances.iter().all(|i| i.fate == Fate::Kept));
    let one_worker = graph! {
        workers = 1;
        src: Source = Source::new(0, 0);
        check: Check = Check::new(1, 0, 1);
        src.out -> check.inp;
    };
    let why = running.evolution(one_worker).err().unwrap();
    assert_eq!(
        why,
        EvolutionError::Workers {
            target: 1,
            running: 2
        }
    );
    assert!(
        why.to_string()
            .contains("the new graph has 1 workers but the running one has 2"),
        "{why}"
    );
    running.join().unwrap();
}
