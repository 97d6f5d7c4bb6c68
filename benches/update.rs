//! Live update costs, each next to its no-update baseline in the same run:
//! single swap latency under load, coordinated updates across 1..6
//! instances, the update of one instance in graphs of 10 to 10,000
//! instances, pipeline throughput while 10 and 100 updates per second are
//! applied, and 10,000 coordinated updates whose marker must cross a full
//! capacity-1 ring into a slow consumer (the case that used to hang).
//! Prints a summary with percentiles and ratios at the end.
//!
//!     cargo bench --bench update

use criterion::{BenchmarkId, Criterion, Throughput};
use evoflow::{component, Flow, GraphBuilder, Outputs, Running, Update};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Emits numbers until stopped (or `limit`).
struct Numbers {
    next: u64,
    limit: u64,
}

#[component(outputs(out: u64))]
impl Numbers {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.limit {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}

/// A stateful stage: counts and transforms.
#[derive(Default, Serialize, Deserialize)]
struct StageA {
    count: u64,
}

#[component(state, outputs(out: u64))]
impl StageA {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(x.wrapping_mul(3));
    }
}

/// The same stage, another implementation: what an update swaps in.
#[derive(Default, Serialize, Deserialize)]
struct StageB {
    count: u64,
}

#[component(state, outputs(out: u64))]
impl StageB {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(x.wrapping_mul(3));
    }
}

#[derive(Default)]
struct Sink {
    sum: u64,
}

#[component]
impl Sink {
    #[input]
    fn inp(&mut self, x: u64) {
        self.sum = self.sum.wrapping_add(x);
    }
}

/// `chains` pipelines of `Numbers -> StageA x stages -> Sink` on 2 workers,
/// each chain split in the middle.
fn chains(chains: usize, stages: usize, limit: u64) -> Running {
    let mut b = GraphBuilder::new("bench", 2);
    for c in 0..chains {
        let src = b.instance(format!("src{c}"), 0, Numbers { next: 0, limit });
        let mut prev = src;
        for s in 0..stages {
            let section = usize::from(s >= stages / 2);
            let stage = b.instance(format!("c{c}s{s}"), section, StageA::default());
            b.connect::<u64>(prev, 0, stage, 0, 1024).unwrap();
            prev = stage;
        }
        let sink = b.instance(format!("sink{c}"), 1, Sink::default());
        b.connect::<u64>(prev, 0, sink, 0, 1024).unwrap();
    }
    b.build().unwrap().run().unwrap()
}

/// Replaces `names` together, alternating between the two implementations.
fn swap(running: &Running, names: &[String], flip: &mut bool) -> Duration {
    let mut u = Update::new();
    for n in names {
        u = if *flip {
            u.replace::<StageA>(n)
        } else {
            u.replace::<StageB>(n)
        };
    }
    *flip = !*flip;
    let t = Instant::now();
    running.update(u).expect("the update applies");
    t.elapsed()
}

/// Latency samples per benchmark id, for percentiles in the summary.
type Samples = Arc<Mutex<Vec<(String, Vec<Duration>)>>>;

fn record(samples: &Samples, id: &str, d: Duration) {
    let mut s = samples.lock().unwrap();
    match s.iter_mut().find(|(k, _)| k == id) {
        Some((_, v)) => v.push(d),
        None => s.push((id.to_owned(), vec![d])),
    }
}

fn bench_swaps(c: &mut Criterion, samples: &Samples) {
    let mut g = c.benchmark_group("update");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    // Single swap under load, and coordinated swaps of 1..6 instances of a
    // 6-stage pipeline, while the pipeline runs at full speed.
    let running = chains(1, 6, u64::MAX);
    let names: Vec<String> = (0..6).map(|s| format!("c0s{s}")).collect();
    let mut flip = true;
    for k in 1..=6 {
        let id = format!("coordinated_{k}_of_6_under_load");
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let d = swap(&running, &names[..k], &mut flip);
                        record(samples, &id, d);
                        d
                    })
                    .sum()
            })
        });
    }
    running.stop();
    running.join().unwrap();

    // One instance in graphs of growing size (chains of 10 instances).
    for size in [10usize, 100, 1_000, 10_000] {
        let running = chains(size / 10, 8, u64::MAX);
        let target = vec!["c0s3".to_owned()];
        let id = format!("one_instance_in_{size}_instances");
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let d = swap(&running, &target, &mut flip);
                        record(samples, &id, d);
                        d
                    })
                    .sum()
            })
        });
        running.stop();
        running.join().unwrap();
    }
    g.finish();
}

/// Packets per throughput run.
const PACKETS: u64 = 100_000_000;

/// Runs a 6-stage pipeline over `PACKETS` packets while another thread
/// applies `rate` updates per second (alternating single and coordinated).
fn run_with_updates(rate: u32) -> (Duration, usize) {
    let running = Arc::new(chains(1, 6, PACKETS));
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let updater = (rate > 0).then(|| {
        let (running, done) = (running.clone(), done.clone());
        std::thread::spawn(move || {
            let period = Duration::from_secs(1) / rate;
            let (mut flip, mut n, names) = (true, 0, ["c0s1".to_owned(), "c0s4".to_owned()]);
            let mut next = Instant::now() + period;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += period;
                let k = if n % 2 == 0 { 1 } else { 2 };
                let mut u = Update::new();
                for name in &names[..k] {
                    u = if flip {
                        u.replace::<StageA>(name)
                    } else {
                        u.replace::<StageB>(name)
                    };
                }
                if running.update(u).is_ok() {
                    flip = !flip;
                    n += 1;
                }
            }
            n
        })
    });
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let applied = updater.map_or(0, |u| u.join().unwrap());
    Arc::try_unwrap(running)
        .ok()
        .expect("updater finished")
        .join()
        .unwrap();
    (elapsed, applied)
}

fn bench_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput_while_updating");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(PACKETS));
    for rate in [0u32, 10, 100] {
        g.bench_function(
            BenchmarkId::from_parameter(format!("{rate}_updates_per_s")),
            |b| b.iter_custom(|iters| (0..iters).map(|_| run_with_updates(rate).0).sum()),
        );
    }
    g.finish();
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn summary(samples: &Samples) {
    let mut s = samples.lock().unwrap();
    println!("\nupdate latency (submit to every instance done), all samples of this run:");
    for (id, v) in s.iter_mut() {
        let (p50, p99) = (percentile(v, 0.50), percentile(v, 0.99));
        println!(
            "  {id:<40} n={:<6} p50 {:>8.1?}  p99 {:>8.1?}",
            v.len(),
            p50,
            p99
        );
    }
    let p50 = |id: &str, s: &mut Vec<(String, Vec<Duration>)>| {
        s.iter_mut()
            .find(|(k, _)| k == id)
            .map(|(_, v)| percentile(v, 0.5).as_secs_f64())
    };
    if let (Some(small), Some(large)) = (
        p50("one_instance_in_10_instances", &mut s),
        p50("one_instance_in_10000_instances", &mut s),
    ) {
        println!(
            "  one instance, 10,000 vs 10 instances: {:.2}x (p50)",
            large / small
        );
    }
}

/// Spins for `d`: a consumer slower than its producer.
fn busy(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Busy for ~10 µs per packet: keeps the capacity-1 ring into it full.
#[derive(Default, Serialize, Deserialize)]
struct Slow {
    count: u64,
}

#[component(state, outputs(out: u64))]
impl Slow {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        busy(Duration::from_micros(10));
        self.count += 1;
        out.out(x);
    }
}

/// Another implementation of `Slow`, to swap in.
#[derive(Default, Serialize, Deserialize)]
struct SlowB {
    count: u64,
}

#[component(state, outputs(out: u64))]
impl SlowB {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        busy(Duration::from_micros(10));
        self.count += 1;
        out.out(x);
    }
}

/// `numbers -> p (worker 0) -> q (worker 1, slow) -> sink`, the arc into
/// `q` of capacity 1; 10,000 coordinated replacements of `p` and `q`.
/// Every update must return; one that reaches its deadline counts as a
/// hang (none may).
fn full_ring_into_slow_consumer() {
    const UPDATES: usize = 10_000;
    let mut b = GraphBuilder::new("slow", 2);
    let src = b.instance(
        "src",
        0,
        Numbers {
            next: 0,
            limit: u64::MAX,
        },
    );
    let p = b.instance("p", 0, StageA::default());
    let q = b.instance("q", 1, Slow::default());
    let sink = b.instance("sink", 1, Sink::default());
    b.connect::<u64>(src, 0, p, 0, 1024).unwrap();
    b.connect::<u64>(p, 0, q, 0, 1).unwrap();
    b.connect::<u64>(q, 0, sink, 0, 1024).unwrap();
    let running = b.build().unwrap().run().unwrap();
    let (mut times, mut hangs) = (Vec::with_capacity(UPDATES), 0);
    for i in 0..UPDATES {
        let u = if i % 2 == 0 {
            Update::new().replace::<StageB>("p").replace::<SlowB>("q")
        } else {
            Update::new().replace::<StageA>("p").replace::<Slow>("q")
        };
        let t = Instant::now();
        match running.update(u) {
            Ok(_) => times.push(t.elapsed()),
            Err(evoflow::UpdateError::TimedOut { .. }) => hangs += 1,
            Err(e) => panic!("update {i}: {e}"),
        }
    }
    running.stop();
    running.join().unwrap();
    let max = *times.iter().max().unwrap();
    println!(
        "coordinated update of p and q across a full capacity-1 ring into a 10 µs/packet consumer, {UPDATES} updates:"
    );
    println!(
        "  p50 {:.2?}  p99 {:.2?}  max {:.2?}  hangs (deadline of {:?} reached): {hangs}",
        percentile(&mut times, 0.50),
        percentile(&mut times, 0.99),
        max,
        evoflow::DEFAULT_DEADLINE
    );
}

fn main() {
    let samples: Samples = Arc::default();
    let mut c = Criterion::default().configure_from_args();
    bench_swaps(&mut c, &samples);
    bench_throughput(&mut c);
    c.final_summary();
    summary(&samples);
    full_ring_into_slow_consumer();
    // Interleaved rounds, medians: the machine is noisy and the three
    // variants must see the same noise.
    let mut times: [Vec<f64>; 3] = Default::default();
    let mut applied = [0usize; 3];
    for _ in 0..5 {
        for (i, rate) in [0, 10, 100].into_iter().enumerate() {
            let (t, n) = run_with_updates(rate);
            times[i].push(t.as_secs_f64());
            applied[i] += n;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(&mut times[0]);
    println!(
        "pipeline throughput while updating (median of 5 interleaved runs of {PACKETS} packets):"
    );
    println!(
        "  no updates:  {:.1} M packets/s",
        PACKETS as f64 / base / 1e6
    );
    for (i, rate) in [(1, 10), (2, 100)] {
        let t = median(&mut times[i]);
        println!(
            "  {rate:>3} updates/s: {:.1} M packets/s, {:.3}x of no updates ({} updates applied in all)",
            PACKETS as f64 / t / 1e6,
            base / t,
            applied[i]
        );
    }
}
