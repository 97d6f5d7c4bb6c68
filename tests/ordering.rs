//! Packets are neither lost, duplicated nor reordered, inside and across
//! sections, under heavy backpressure (capacities of 1 and 2).

mod common;

use common::*;
use evoflow::graph;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn six_stage_pipeline_across_two_workers_with_capacity_one() {
    let mut report = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 1;
            src: Source = Source::new(0, 2_000_000);
            a: Relay; b: Relay; c: Relay; d: Relay;
            check: Check = Check::new(1, 0, 1);
            src.out -> a.inp;
            a.out -> b.inp;
            b.out -> c.inp;
            c.out -> d.inp;
            d.out -> check.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let check = report.take::<Check>("check").unwrap();
    assert_eq!(check.received, 2_000_000);
    assert!(check.ended);
    assert_eq!(report.take::<Relay>("c").unwrap().seen, 2_000_000);
}

#[test]
fn fan_out_and_fan_in_keep_per_arc_order() {
    let mut report = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 2;
            src: Source = Source::new(0, 1_000_000);
            split: Split;
            evens: Relay;
            #[worker(1)]
            odds: Relay;
            even_check: Check = Check::new(1, 0, 2);
            odd_check: Check = Check::new(1, 1, 2);
            src.out -> split.inp;
            split.even -> evens.inp;
            split.odd -> odds.inp;
            evens.out -> even_check.inp;
            odds.out -> odd_check.inp;
        }
        .run_to_end()
        .unwrap()
    });
    assert_eq!(
        report.take::<Check>("even_check").unwrap().received,
        500_000
    );
    assert_eq!(report.take::<Check>("odd_check").unwrap().received, 500_000);
}

#[test]
fn fan_in_of_many_streams_on_more_workers_than_cores() {
    let mut report = within(LIMIT, || {
        graph! {
            workers = 4;
            capacity = 3;
            s0: Source = Source::new(0, 200_000);
            s1: Source = Source::new(1, 200_000);
            s2: Source = Source::new(2, 200_000);
            burst: Burst = Burst { k: 3 };
            merge: Merge;
            relay: Relay;
            check: Check = Check::new(3, 0, 1);
            s0.out -> merge.left;
            s1.out -> merge.right;
            s2.out -> burst.inp;
            burst.out -> relay.inp;
            relay.out -> check.inp;
            merge.out -> check.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let check = report.take::<Check>("check").unwrap();
    assert_eq!(check.expected, vec![200_000, 200_000, 600_000]);
    assert_eq!(check.received, 1_000_000);
}
