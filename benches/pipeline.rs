//! A 6-stage linear pipeline of u64 packets: evoflow on 2 workers against
//! the same stages as one thread of plain calls, as a thread per stage with
//! crossbeam bounded channels, and as a thread per stage with rtrb rings.
//! evoflow on 1 worker against plain calls gives the cost of an in-section
//! hop; pinned (`Graph::pin_workers`) against not. Then the same stages
//! compute-bound (~150 ns each): evoflow on 2 workers, pinned and not,
//! against 1. Prints packets/s and the ratios after criterion's own report.
//!
//!     cargo bench --bench pipeline
//!
//! The same pipeline against timely and DFIR, and a compute-bound variant,
//! is `benches/peers/` (a crate outside the workspace, so CI does not build
//! those engines; results in `benches/results/pipeline-peers.md`):
//!
//!     cargo bench --manifest-path benches/peers/Cargo.toml

use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use evoflow::{component, graph, Flow, Outputs};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

const PACKETS: u64 = 1_000_000;
const CAPACITY: usize = 1024;
const STAGES: u64 = 6;

/// The work of one middle stage: a few cheap arithmetic operations.
#[inline]
fn work(x: u64, salt: u64) -> u64 {
    (x ^ salt)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

struct Gen {
    next: u64,
}

#[component(outputs(out: u64))]
impl Gen {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == PACKETS {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}

struct Stage {
    salt: u64,
}

#[component(outputs(out: u64))]
impl Stage {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(work(x, self.salt));
    }
}

#[derive(Default)]
struct Fold {
    acc: u64,
}

#[component]
impl Fold {
    #[input]
    fn inp(&mut self, x: u64) {
        self.acc = self.acc.wrapping_add(x);
    }
}

fn evoflow_pipeline(workers: usize, pin: bool) -> u64 {
    let graph = graph! {
        workers = workers;
        gen: Gen = Gen { next: 0 };
        s1: Stage = Stage { salt: 1 }; s2: Stage = Stage { salt: 2 };
        s3: Stage = Stage { salt: 3 }; s4: Stage = Stage { salt: 4 };
        fold: Fold;
        gen.out -> s1.inp; s1.out -> s2.inp; s2.out -> s3.inp; s3.out -> s4.inp; s4.out -> fold.inp;
    };
    folded(graph, pin)
}

/// Runs `graph` (pinned or not) to its end; what its `fold` summed.
fn folded(graph: evoflow::Graph, pin: bool) -> u64 {
    let graph = if pin { graph.pin_workers() } else { graph };
    graph
        .run_to_end()
        .unwrap()
        .take::<Fold>("fold")
        .unwrap()
        .acc
}

fn plain_calls() -> u64 {
    let mut acc = 0u64;
    for x in 0..black_box(PACKETS) {
        let y = work(work(work(work(x, 1), 2), 3), 4);
        acc = acc.wrapping_add(y);
    }
    acc
}

/// A thread per stage, connected by bounded crossbeam channels.
fn crossbeam_threads() -> u64 {
    let (tx0, mut rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let mut handles = Vec::new();
    for salt in 1..=4 {
        let (tx, next_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let input = std::mem::replace(&mut rx, next_rx);
        handles.push(thread::spawn(move || {
            for x in input {
                tx.send(work(x, salt)).unwrap();
            }
        }));
    }
    let sink = thread::spawn(move || rx.iter().fold(0u64, u64::wrapping_add));
    for x in 0..PACKETS {
        tx0.send(x).unwrap();
    }
    drop(tx0);
    handles.into_iter().for_each(|h| h.join().unwrap());
    sink.join().unwrap()
}

/// A thread per stage, connected by rtrb rings; spins, then yields, when a
/// ring is empty or full (a blocking hand-off would need more machinery).
fn rtrb_threads() -> u64 {
    fn push(p: &mut rtrb::Producer<Option<u64>>, mut v: Option<u64>) {
        loop {
            match p.push(v) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => {
                    v = back;
                    thread::yield_now();
                }
            }
        }
    }
    fn pop(c: &mut rtrb::Consumer<Option<u64>>) -> Option<u64> {
        loop {
            if let Ok(v) = c.pop() {
                return v;
            }
            thread::yield_now();
        }
    }
    let (mut p0, mut rx) = rtrb::RingBuffer::<Option<u64>>::new(CAPACITY);
    let mut handles = Vec::new();
    for salt in 1..=4 {
        let (mut p, next) = rtrb::RingBuffer::<Option<u64>>::new(CAPACITY);
        let mut input = std::mem::replace(&mut rx, next);
        handles.push(thread::spawn(move || {
            while let Some(x) = pop(&mut input) {
                push(&mut p, Some(work(x, salt)));
            }
            push(&mut p, None);
        }));
    }
    let sink = thread::spawn(move || {
        let mut acc = 0u64;
        while let Some(x) = pop(&mut rx) {
            acc = acc.wrapping_add(x);
        }
        acc
    });
    for x in 0..PACKETS {
        push(&mut p0, Some(x));
    }
    push(&mut p0, None);
    handles.into_iter().for_each(|h| h.join().unwrap());
    sink.join().unwrap()
}

/// Packets per run of the compute-bound pipeline.
const HEAVY_PACKETS: u64 = 200_000;
/// Rounds of three `work` chains per compute-bound stage: about 150 ns
/// on the machine measured (2.5 ns a round).
const HEAVY_ROUNDS: u64 = 60;

/// A compute-bound stage: [`HEAVY_ROUNDS`] rounds of three independent
/// `work` chains (so one packet keeps the multiplier busy by itself).
fn heavy(x: u64, salt: u64) -> u64 {
    let (mut a, mut b, mut c) = (x, x ^ 1, x ^ 2);
    for _ in 0..HEAVY_ROUNDS {
        a = work(a, salt);
        b = work(b, salt + 1);
        c = work(c, salt + 2);
    }
    a ^ b ^ c
}

struct HeavyStage {
    salt: u64,
}

#[component(outputs(out: u64))]
impl HeavyStage {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(heavy(x, self.salt));
    }
}

/// The same 6 stages, compute-bound: with two workers, a section of
/// three stages each, two should nearly double one.
fn evoflow_heavy(workers: usize, pin: bool) -> u64 {
    let graph = graph! {
        workers = workers;
        gen: Gen = Gen { next: PACKETS - HEAVY_PACKETS };
        s1: HeavyStage = HeavyStage { salt: 1 }; s2: HeavyStage = HeavyStage { salt: 2 };
        s3: HeavyStage = HeavyStage { salt: 3 }; s4: HeavyStage = HeavyStage { salt: 4 };
        fold: Fold;
        gen.out -> s1.inp; s1.out -> s2.inp; s2.out -> s3.inp; s3.out -> s4.inp; s4.out -> fold.inp;
    };
    folded(graph, pin)
}

fn plain_heavy() -> u64 {
    (PACKETS - HEAVY_PACKETS..black_box(PACKETS))
        .map(|x| heavy(heavy(heavy(heavy(x, 1), 2), 3), 4))
        .fold(0, u64::wrapping_add)
}

const HEAVY_VARIANTS: [&str; 3] = [
    "evoflow_1_worker",
    "evoflow_2_workers",
    "evoflow_2_workers_pinned",
];

const VARIANTS: [&str; 6] = [
    "evoflow_2_workers",
    "evoflow_2_workers_pinned",
    "evoflow_1_worker",
    "plain_calls_1_thread",
    "crossbeam_thread_per_stage",
    "rtrb_thread_per_stage",
];

fn bench(c: &mut Criterion) {
    let expected = plain_calls();
    let mut g = c.benchmark_group("pipeline6");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for name in VARIANTS {
        let run: fn() -> u64 = match name {
            "evoflow_2_workers" => || evoflow_pipeline(2, false),
            "evoflow_2_workers_pinned" => || evoflow_pipeline(2, true),
            "evoflow_1_worker" => || evoflow_pipeline(1, false),
            "plain_calls_1_thread" => plain_calls,
            "crossbeam_thread_per_stage" => crossbeam_threads,
            _ => rtrb_threads,
        };
        assert_eq!(run(), expected, "{name} computes the same result");
        g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(run));
    }
    g.finish();
    let expected = plain_heavy();
    let mut g = c.benchmark_group("compute6");
    g.throughput(Throughput::Elements(HEAVY_PACKETS));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for name in HEAVY_VARIANTS {
        let run: fn() -> u64 = match name {
            "evoflow_1_worker" => || evoflow_heavy(1, false),
            "evoflow_2_workers" => || evoflow_heavy(2, false),
            _ => || evoflow_heavy(2, true),
        };
        assert_eq!(run(), expected, "{name} computes the same result");
        g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(run));
    }
    g.finish();
}

criterion_group!(benches, bench);

/// Mean time per iteration of a variant of `group`, from criterion's
/// saved estimate.
fn mean_ns(group: &str, variant: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(variant)
        .join("new/estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn summary() {
    let Some(times) = VARIANTS
        .iter()
        .map(|v| mean_ns("pipeline6", v))
        .collect::<Option<Vec<f64>>>()
    else {
        return; // filtered run: not every variant was measured
    };
    let t = |name: &str| times[VARIANTS.iter().position(|v| *v == name).unwrap()];
    println!("\n6-stage pipeline, {PACKETS} u64 packets per run (mean of criterion samples):");
    for (v, ns) in VARIANTS.iter().zip(&times) {
        println!("  {v:<28} {:>8.1} M packets/s", PACKETS as f64 / ns * 1e3);
    }
    let evo = t("evoflow_2_workers");
    println!("ratios (higher is better for evoflow):");
    println!(
        "  evoflow 2 workers / crossbeam thread-per-stage: {:.2}x",
        t("crossbeam_thread_per_stage") / evo
    );
    println!(
        "  evoflow 2 workers / rtrb thread-per-stage:      {:.2}x",
        t("rtrb_thread_per_stage") / evo
    );
    println!(
        "  evoflow 2 workers / plain calls on 1 thread:    {:.2}x",
        t("plain_calls_1_thread") / evo
    );
    let hops = (PACKETS * (STAGES - 1)) as f64;
    println!(
        "  in-section hop (1 worker vs plain calls):       {:.2} ns",
        (t("evoflow_1_worker") - t("plain_calls_1_thread")) / hops
    );
    println!(
        "  evoflow 2 workers pinned / not pinned:          {:.2}x",
        evo / t("evoflow_2_workers_pinned")
    );
    let heavy: Option<Vec<f64>> = HEAVY_VARIANTS
        .iter()
        .map(|v| mean_ns("compute6", v))
        .collect();
    let Some(heavy) = heavy else { return };
    println!("\ncompute-bound, 6 stages of ~150 ns, {HEAVY_PACKETS} packets per run:");
    for (v, ns) in HEAVY_VARIANTS.iter().zip(&heavy) {
        println!(
            "  {v:<28} {:>8.2} M packets/s",
            HEAVY_PACKETS as f64 / ns * 1e3
        );
    }
    println!(
        "  2 workers / 1 worker: {:.2}x, pinned: {:.2}x",
        heavy[0] / heavy[1],
        heavy[0] / heavy[2]
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
