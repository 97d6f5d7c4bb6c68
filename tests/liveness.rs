//! Live updates never hang: coordinated updates whose marker must cross a
//! full ring between two changing instances on two workers, into a slow
//! consumer (issue #9's reproduction).

mod common;

use common::*;
use evoflow::{component, graph, Outputs, Update};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Passes packets on; two interchangeable implementations so that every
/// update replaces both ends of the full arc.
#[derive(Default, Serialize, Deserialize)]
struct P1 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl P1 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct P2 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl P2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
}

/// Busy for ~10 µs per packet: keeps the capacity-1 arc into it full.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Q1 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl Q1 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        spin(Duration::from_micros(10));
        out.out(p);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Q2 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl Q2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        spin(Duration::from_micros(10));
        out.out(p);
    }
}

/// `src -> p (worker 0) -> q (worker 1) -> check`, the arc p -> q of
/// capacity 1; 1,500 coordinated replacements of `p` and `q`, each of which
/// must return (and succeed) within a few seconds. Before the fix a worker
/// parked with the marker staged for the full ring, and one update in most
/// runs never returned.
#[test]
fn coordinated_updates_across_a_full_ring_into_a_slow_consumer_never_hang() {
    const UPDATES: usize = 1_500;
    let running = graph! {
        workers = 2;
        capacity = 4;
        #[worker(0)]
        src: Source = Source::new(0, u64::MAX);
        #[worker(0)]
        p: P1;
        #[worker(1)]
        q: Q1;
        #[worker(1)]
        check: Check = Check::new(1, 0, 1);
        src.out -> p.inp;
        #[capacity(1)]
        p.out -> q.inp;
        q.out -> check.inp;
    }
    .run()
    .unwrap();
    let running = std::sync::Arc::new(running);
    let (tx, rx) = mpsc::channel();
    let r = running.clone();
    let updater = std::thread::spawn(move || {
        for i in 0..UPDATES {
            let u = if i % 2 == 0 {
                Update::new().replace::<P2>("p").replace::<Q2>("q")
            } else {
                Update::new().replace::<P1>("p").replace::<Q1>("q")
            };
            let outcome = r.update(u).map(drop).map_err(|e| e.to_string());
            if tx.send((i, outcome)).is_err() {
                return;
            }
        }
    });
    for _ in 0..UPDATES {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((_, Ok(()))) => {}
            Ok((i, Err(e))) => panic!("update {i} failed: {e}"),
            Err(_) => {
                running.stop();
                panic!("an update did not return within 10 s: the protocol hung");
            }
        }
    }
    running.stop();
    updater.join().unwrap();
    let running = std::sync::Arc::try_unwrap(running).unwrap_or_else(|_| unreachable!());
    let mut report = running.join().unwrap();
    assert!(report.take::<Check>("check").unwrap().received > 0);
}
