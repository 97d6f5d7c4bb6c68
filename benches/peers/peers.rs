//! The 6-stage u64 pipeline of `benches/pipeline.rs` (a source, four
//! `work` stages, a folding sink) against the dataflow engines a user would
//! pick instead, side by side in one run:
//!
//! - evoflow on 1 and 2 workers (2 also pinned, `Graph::pin_workers`),
//!   plain calls, crossbeam and rtrb thread-per-stage (as in
//!   `benches/pipeline.rs`);
//! - timely dataflow on 1 and 2 workers (`Config::process(n)`): timely
//!   splits the input between the workers and each worker runs the whole
//!   chain, so its 2 workers are data parallel, not a pipeline;
//! - DFIR (`dfir_syntax!`), which compiles the chain into one loop on one
//!   thread;
//! - a compute-bound variant (each stage does ~150 ns of rounds of three
//!   `work` chains, calibrated at start) for evoflow and timely on 1 and 2
//!   workers, where two workers should nearly double one.
//!
//! Every variant's checksum is checked against plain calls before it is
//! measured. Prints packets/s (median of criterion's samples) and ratios.
//! Not a workspace member, so CI does not build timely and DFIR:
//!
//!     cargo bench --manifest-path benches/peers/Cargo.toml

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
mod common;

use common::{pop, push, work};
use dfir_rs::dfir_syntax;
use evoflow::{component, graph, Flow, Outputs};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::Inspect;

/// Packets per run of the cheap pipeline.
const PACKETS: u64 = 1_000_000;
/// Packets per run of the compute-bound pipeline.
const HEAVY_PACKETS: u64 = 50_000;
/// Target work per stage in the compute-bound pipeline.
const HEAVY_STAGE_NS: f64 = 150.0;
const CAPACITY: usize = 1024;
const STAGES: u64 = 6;

/// The work of one compute-bound stage: `rounds` rounds of three
/// independent `work` chains. Three chains keep the multiplier busy within
/// one packet, so the time hardly depends on whether an engine overlaps
/// the work of neighbouring packets (a batch per stage does, a packet
/// through the whole chain does less).
#[inline]
fn heavy(x: u64, salt: u64, rounds: u64) -> u64 {
    let (mut a, mut b, mut c) = (x, x ^ 0x5555, x.wrapping_add(salt));
    for _ in 0..rounds {
        a = work(a, salt);
        b = work(b, salt + 1);
        c = work(c, salt + 2);
    }
    a ^ b ^ c
}

/// One stage's work: `work` once when `rounds` is 0 (the cheap pipeline),
/// else `heavy`. Every variant calls this, so all compute the same thing.
#[inline]
fn stage(x: u64, salt: u64, rounds: u64) -> u64 {
    if rounds == 0 {
        work(x, salt)
    } else {
        heavy(x, salt, rounds)
    }
}

/// The shape of a run: how many packets, and how heavy each stage is.
#[derive(Clone, Copy)]
struct Load {
    packets: u64,
    rounds: u64,
}

struct Gen {
    next: u64,
    end: u64,
}

#[component(outputs(out: u64))]
impl Gen {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.end {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}

struct Stage {
    salt: u64,
    rounds: u64,
}

#[component(outputs(out: u64))]
impl Stage {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(stage(x, self.salt, self.rounds));
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

fn evoflow_pipeline(workers: usize, pin: bool, load: Load) -> u64 {
    let Load { packets, rounds } = load;
    let graph = graph! {
        workers = workers;
        gen: Gen = Gen { next: 0, end: packets };
        s1: Stage = Stage { salt: 1, rounds }; s2: Stage = Stage { salt: 2, rounds };
        s3: Stage = Stage { salt: 3, rounds }; s4: Stage = Stage { salt: 4, rounds };
        fold: Fold;
        gen.out -> s1.inp; s1.out -> s2.inp; s2.out -> s3.inp; s3.out -> s4.inp; s4.out -> fold.inp;
    };
    let graph = if pin { graph.pin_workers() } else { graph };
    graph
        .run_to_end()
        .unwrap()
        .take::<Fold>("fold")
        .unwrap()
        .acc
}

fn plain_calls(load: Load) -> u64 {
    let r = load.rounds;
    let mut acc = 0u64;
    for x in 0..black_box(load.packets) {
        let y = stage(stage(stage(stage(x, 1, r), 2, r), 3, r), 4, r);
        acc = acc.wrapping_add(y);
    }
    acc
}

/// timely on `workers` threads of this process. Worker i takes the packets
/// i, i + workers, ... and runs the whole chain on them (no exchange).
fn timely_pipeline(workers: usize, load: Load) -> u64 {
    let Load { packets, rounds } = load;
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index() as u64, worker.peers() as u64);
        let acc = Rc::new(Cell::new(0u64));
        let sink = acc.clone();
        worker.dataflow::<u64, _, _>(move |scope| {
            (index..packets)
                .step_by(peers as usize)
                .to_stream(scope)
                .map(move |x| stage(x, 1, rounds))
                .map(move |x| stage(x, 2, rounds))
                .map(move |x| stage(x, 3, rounds))
                .map(move |x| stage(x, 4, rounds))
                .inspect(move |x| sink.set(sink.get().wrapping_add(*x)));
        });
        while worker.step() {}
        acc.get()
    })
    .unwrap();
    guards
        .join()
        .into_iter()
        .map(Result::unwrap)
        .fold(0, u64::wrapping_add)
}

/// DFIR on one thread: `dfir_syntax!` compiles the chain into one loop.
fn dfir_pipeline(load: Load) -> u64 {
    let Load { packets, rounds } = load;
    let acc = Rc::new(Cell::new(0u64));
    let sink = acc.clone();
    let mut flow = dfir_syntax! {
        source_iter(0..packets)
            -> map(|x| stage(x, 1, rounds))
            -> map(|x| stage(x, 2, rounds))
            -> map(|x| stage(x, 3, rounds))
            -> map(|x| stage(x, 4, rounds))
            -> for_each(|x| sink.set(sink.get().wrapping_add(x)));
    };
    flow.run_available_sync();
    drop(flow);
    acc.get()
}

/// A thread per stage, connected by bounded crossbeam channels.
fn crossbeam_threads(load: Load) -> u64 {
    let (tx0, mut rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let mut handles = Vec::new();
    for salt in 1..=4 {
        let (tx, next_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let input = std::mem::replace(&mut rx, next_rx);
        handles.push(thread::spawn(move || {
            for x in input {
                tx.send(stage(x, salt, load.rounds)).unwrap();
            }
        }));
    }
    let sink = thread::spawn(move || rx.iter().fold(0u64, u64::wrapping_add));
    for x in 0..load.packets {
        tx0.send(x).unwrap();
    }
    drop(tx0);
    handles.into_iter().for_each(|h| h.join().unwrap());
    sink.join().unwrap()
}

/// A thread per stage, connected by rtrb rings; spins, then yields, when a
/// ring is empty or full.
fn rtrb_threads(load: Load) -> u64 {
    let (mut p0, mut rx) = rtrb::RingBuffer::<Option<u64>>::new(CAPACITY);
    let mut handles = Vec::new();
    for salt in 1..=4 {
        let (mut p, next) = rtrb::RingBuffer::<Option<u64>>::new(CAPACITY);
        let mut input = std::mem::replace(&mut rx, next);
        handles.push(thread::spawn(move || {
            while let Some(x) = pop(&mut input) {
                push(&mut p, Some(stage(x, salt, load.rounds)));
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
    for x in 0..load.packets {
        push(&mut p0, Some(x));
    }
    push(&mut p0, None);
    handles.into_iter().for_each(|h| h.join().unwrap());
    sink.join().unwrap()
}

/// The cheap pipeline's variants, as criterion names them.
const CHEAP: [&str; 9] = [
    "evoflow_1_worker",
    "evoflow_2_workers",
    "evoflow_2_workers_pinned",
    "plain_calls_1_thread",
    "crossbeam_thread_per_stage",
    "rtrb_thread_per_stage",
    "timely_1_worker",
    "timely_2_workers_split_input",
    "dfir_1_thread",
];

/// The compute-bound pipeline's variants.
const HEAVY: [&str; 6] = [
    "plain_calls_1_thread",
    "evoflow_1_worker",
    "evoflow_2_workers",
    "evoflow_2_workers_pinned",
    "timely_1_worker",
    "timely_2_workers_split_input",
];

fn runner(name: &str) -> fn(Load) -> u64 {
    match name {
        "evoflow_1_worker" => |l| evoflow_pipeline(1, false, l),
        "evoflow_2_workers" => |l| evoflow_pipeline(2, false, l),
        "evoflow_2_workers_pinned" => |l| evoflow_pipeline(2, true, l),
        "plain_calls_1_thread" => plain_calls,
        "crossbeam_thread_per_stage" => crossbeam_threads,
        "rtrb_thread_per_stage" => rtrb_threads,
        "timely_1_worker" => |l| timely_pipeline(1, l),
        "timely_2_workers_split_input" => |l| timely_pipeline(2, l),
        "dfir_1_thread" => dfir_pipeline,
        _ => unreachable!("unknown variant {name}"),
    }
}

/// `heavy` rounds that take about `HEAVY_STAGE_NS` on this machine, and the
/// measured time of one round.
fn calibrate() -> (u64, f64) {
    let probe = 2_000_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        black_box(heavy(black_box(7), black_box(1), black_box(probe)));
        best = best.min(start.elapsed().as_nanos() as f64 / probe as f64);
    }
    (((HEAVY_STAGE_NS / best).round() as u64).max(1), best)
}

fn measure(c: &mut Criterion, group: &str, variants: &[&str], load: Load) {
    let expected = plain_calls(load);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(load.packets));
    for &name in variants {
        let run = runner(name);
        assert_eq!(
            run(load),
            expected,
            "{group}/{name} computes the same checksum as plain calls"
        );
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| run(black_box(load)))
        });
    }
    g.finish();
}

/// Median time per iteration of a variant, from criterion's saved estimate.
fn median_ns(group: &str, variant: &str) -> Option<f64> {
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
    json["median"]["point_estimate"].as_f64()
}

/// Millions of packets per second of each variant, or None if a filtered
/// run did not measure them all.
fn rates(group: &str, variants: &[&str], packets: u64) -> Option<Vec<f64>> {
    variants
        .iter()
        .map(|v| median_ns(group, v).map(|ns| packets as f64 / ns * 1e3))
        .collect()
}

fn summary(rounds: u64, round_ns: f64) {
    let (Some(cheap), Some(heavy)) = (
        rates("peers6", &CHEAP, PACKETS),
        rates("peers6_compute", &HEAVY, HEAVY_PACKETS),
    ) else {
        return; // filtered run: not every variant was measured
    };
    let c = |name: &str| cheap[CHEAP.iter().position(|v| *v == name).unwrap()];
    let h = |name: &str| heavy[HEAVY.iter().position(|v| *v == name).unwrap()];
    println!("\n6-stage pipeline, {PACKETS} u64 packets per run (median of criterion samples):");
    for (v, r) in CHEAP.iter().zip(&cheap) {
        println!("  {v:<30} {r:>9.2} M packets/s");
    }
    println!("  (timely: each worker runs the whole chain on its share of the input)");
    println!(
        "compute-bound: {HEAVY_PACKETS} packets, {rounds} rounds of 3 work chains a stage \
         ({round_ns:.2} ns a round, ~{:.0} ns a stage):",
        rounds as f64 * round_ns
    );
    for (v, r) in HEAVY.iter().zip(&heavy) {
        println!("  {v:<30} {r:>9.3} M packets/s");
    }
    println!("ratios (packets/s of the first over the second; higher is better for evoflow):");
    let ratio = |label: &str, x: f64, y: f64| println!("  {label:<48} {:>6.2}x", x / y);
    ratio(
        "evoflow 1 worker / DFIR 1 thread",
        c("evoflow_1_worker"),
        c("dfir_1_thread"),
    );
    ratio(
        "evoflow 1 worker / timely 1 worker",
        c("evoflow_1_worker"),
        c("timely_1_worker"),
    );
    ratio(
        "evoflow 2 workers / timely 2 workers",
        c("evoflow_2_workers"),
        c("timely_2_workers_split_input"),
    );
    ratio(
        "evoflow 2 workers pinned / timely 2 workers",
        c("evoflow_2_workers_pinned"),
        c("timely_2_workers_split_input"),
    );
    ratio(
        "evoflow 2 workers / evoflow 1 worker",
        c("evoflow_2_workers"),
        c("evoflow_1_worker"),
    );
    ratio(
        "evoflow 2 workers / crossbeam thread-per-stage",
        c("evoflow_2_workers"),
        c("crossbeam_thread_per_stage"),
    );
    ratio(
        "evoflow 2 workers / rtrb thread-per-stage",
        c("evoflow_2_workers"),
        c("rtrb_thread_per_stage"),
    );
    ratio(
        "evoflow 2 workers / plain calls on 1 thread",
        c("evoflow_2_workers"),
        c("plain_calls_1_thread"),
    );
    ratio(
        "compute-bound: evoflow 2 workers / 1 worker",
        h("evoflow_2_workers"),
        h("evoflow_1_worker"),
    );
    ratio(
        "compute-bound: evoflow 2 workers pinned / 1 worker",
        h("evoflow_2_workers_pinned"),
        h("evoflow_1_worker"),
    );
    ratio(
        "compute-bound: timely 2 workers / 1 worker",
        h("timely_2_workers_split_input"),
        h("timely_1_worker"),
    );
    ratio(
        "compute-bound: evoflow 1 worker / plain calls",
        h("evoflow_1_worker"),
        h("plain_calls_1_thread"),
    );
    let hops = (PACKETS * (STAGES - 1)) as f64;
    let ns = |rate: f64| 1e3 * PACKETS as f64 / rate;
    println!(
        "  {:<48} {:>6.2} ns",
        "in-section hop (evoflow 1 worker vs plain calls)",
        (ns(c("evoflow_1_worker")) - ns(c("plain_calls_1_thread"))) / hops
    );
}

fn main() {
    let (rounds, round_ns) = calibrate();
    println!(
        "calibration: {rounds} rounds of 3 work chains a compute-bound stage ({round_ns:.2} ns a round)"
    );
    // Defaults for a run of about a minute; criterion's command line
    // (--sample-size, --measurement-time, ...) overrides them.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    measure(
        &mut c,
        "peers6",
        &CHEAP,
        Load {
            packets: PACKETS,
            rounds: 0,
        },
    );
    measure(
        &mut c,
        "peers6_compute",
        &HEAVY,
        Load {
            packets: HEAVY_PACKETS,
            rounds,
        },
    );
    c.final_summary();
    summary(rounds, round_ns);
}
