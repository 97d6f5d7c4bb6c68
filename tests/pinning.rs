//! `Graph::pin_workers`: each worker on a CPU of its own, read back from
//! the kernel (`/proc/self/task/*/status`); the thread of a `#[blocking]`
//! instance and workers that outnumber the CPUs are left free.

#[path = "common/threads.rs"]
mod threads;

use evoflow::{component, graph, Flow, Graph, Outputs};
use std::time::Duration;
use threads::{cpus_allowed, worker_cpus};

/// Counts until stopped, a little at a time.
struct Ticks {
    next: u64,
}

#[component(outputs(out: u64))]
impl Ticks {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        out.out(self.next);
        self.next += 1;
        Flow::after(Duration::from_millis(1))
    }
}

#[derive(Default)]
struct Pass;

#[component(outputs(out: u64))]
impl Pass {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x);
    }
}

#[derive(Default)]
struct Sink;

#[component]
impl Sink {
    #[input]
    fn inp(&mut self, _: u64) {}
}

/// Ticks, two passes and a sink over `workers` workers, the second pass
/// `#[blocking]` (the last thread).
fn graph(workers: usize) -> Graph {
    graph! {
        name = "pin";
        workers = workers;
        #[worker(0)]
        ticks: Ticks = Ticks { next: 0 };
        #[worker(1)]
        a: Pass;
        #[blocking]
        b: Pass;
        sink: Sink;
        ticks.out -> a.inp;
        a.out -> b.inp;
        b.out -> sink.inp;
    }
}

/// What this process may run on, as the kernel lists it.
fn process_allowed() -> (usize, String) {
    let list = cpus_allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus, list)
}

/// Runs `g` until its threads are up, and returns their allowed CPUs.
fn threads_of(g: Graph) -> Vec<(usize, String)> {
    let running = g.run().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let seen = worker_cpus("pin");
    running.stop();
    running.join().unwrap();
    seen
}

// One test: the threads are told apart by name, which every graph here
// shares.
#[test]
fn pinned_workers_run_on_a_cpu_each_and_the_others_stay_free() {
    let (cpus, all) = process_allowed();
    if cpus < 2 {
        println!("SKIPPED: this process may use {cpus} CPU ({all}); pinning needs 2");
        return;
    }
    // Not asked: every thread may run anywhere.
    let free = threads_of(graph(2));
    assert_eq!(free.len(), 3, "{free:?}");
    assert!(free.iter().all(|(_, l)| *l == all), "{free:?}");

    // Asked: workers 0 and 1 each on one CPU, not the same; the blocking
    // instance's thread (2) anywhere.
    let pinned = threads_of(graph(2).pin_workers());
    assert_eq!(pinned.len(), 3, "{pinned:?}");
    let (w0, w1) = (&pinned[0].1, &pinned[1].1);
    assert!(
        w0.parse::<usize>().is_ok() && w1.parse::<usize>().is_ok(),
        "{pinned:?}"
    );
    assert_ne!(w0, w1, "{pinned:?}");
    assert_eq!(pinned[2].1, all, "{pinned:?}");

    // More workers than CPUs: none pinned.
    let many = threads_of(graph(cpus + 1).pin_workers());
    assert!(many.iter().all(|(_, l)| *l == all), "{many:?}");
}
