//! A 6-stage linear pipeline of u64 packets: evoflow on 2 workers against
//! the same stages as one thread of plain calls, as a thread per stage with
//! crossbeam bounded channels, and as a thread per stage with rtrb rings.
//! evoflow on 1 worker against plain calls gives the cost of an in-section
//! hop. Prints packets/s and the ratios after criterion's own report.
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

fn evoflow_pipeline(workers: usize) -> u64 {
    let graph = graph! {
        workers = workers;
        gen: Gen = Gen { next: 0 };
        s1: Stage = Stage { salt: 1 }; s2: Stage = Stage { salt: 2 };
        s3: Stage = Stage { salt: 3 }; s4: Stage = Stage { salt: 4 };
        fold: Fold;
        gen.out -> s1.inp; s1.out -> s2.inp; s2.out -> s3.inp; s3.out -> s4.inp; s4.out -> fold.inp;
    };
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

const VARIANTS: [&str; 5] = [
    "evoflow_2_workers",
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
            "evoflow_2_workers" => || evoflow_pipeline(2),
            "evoflow_1_worker" => || evoflow_pipeline(1),
            "plain_calls_1_thread" => plain_calls,
            "crossbeam_thread_per_stage" => crossbeam_threads,
            _ => rtrb_threads,
        };
        assert_eq!(run(), expected, "{name} computes the same result");
        g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(run));
    }
    g.finish();
}

criterion_group!(benches, bench);

/// Mean time per iteration of a variant, from criterion's saved estimate.
fn mean_ns(variant: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir
        .join("criterion/pipeline6")
        .join(variant)
        .join("new/estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn summary() {
    let Some(times) = VARIANTS
        .iter()
        .map(|v| mean_ns(v))
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
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
