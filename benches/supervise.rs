//! What a panic costs a running graph: the time from a handler's panic to
//! its instance handling the next packet, per supervision (resume, restart
//! from the constructor, restart from a snapshot), and the time from the
//! panic of a watched update's new version to the old version handling
//! packets again (the rollback, with its markers). The source saturates,
//! so a packet is always waiting: the gap is the recovery, not the wait
//! for input. Baseline: what a panic costs any Rust program that catches
//! it (`catch_unwind` of a `panic!`, same empty hook), measured in the
//! same run. Prints p50/p99, median and range over the rounds.
//!
//!     cargo bench --bench supervise

use evoflow::{component, graph, Flow, Outputs, Running, Update};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Nanoseconds since the start of the benchmark.
fn now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// When the last panic happened (0: none pending).
static PANICKED_AT: AtomicU64 = AtomicU64::new(0);
/// Panic-to-next-packet gaps.
static GAPS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Emits numbers until stopped, as fast as they are taken.
struct Numbers {
    next: u64,
    stop: &'static AtomicBool,
}

#[component(outputs(out: u64))]
impl Numbers {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.stop.load(Ordering::Relaxed) {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}

/// Panics on every `every`-th packet; records the gaps.
#[derive(Serialize, Deserialize)]
struct Fragile {
    every: u64,
    sum: u64,
}

impl Fragile {
    fn new() -> Self {
        Fragile { every: 997, sum: 0 }
    }
}

#[component(state)]
impl Fragile {
    #[input]
    fn inp(&mut self, x: u64) {
        let panicked = PANICKED_AT.swap(0, Ordering::Relaxed);
        if panicked != 0 {
            GAPS.lock().unwrap().push(now() - panicked);
        }
        if x % self.every == self.every - 1 {
            PANICKED_AT.store(now(), Ordering::Relaxed);
            panic!("benchmark panic");
        }
        self.sum = self.sum.wrapping_add(x);
    }
}

fn quantile(v: &mut [u64], q: f64) -> Duration {
    v.sort_unstable();
    Duration::from_nanos(v[((v.len() - 1) as f64 * q) as usize])
}

/// One round of `policy`: 2 s of packets, every 997th panicking. Returns
/// p50 and p99 of the panic gaps, and how many there were.
fn round(policy: &str) -> (Duration, Duration, usize) {
    static STOP: AtomicBool = AtomicBool::new(false);
    STOP.store(false, Ordering::Relaxed);
    GAPS.lock().unwrap().clear();
    PANICKED_AT.store(0, Ordering::Relaxed);
    let running = match policy {
        "resume" => graph! {
            workers = 2;
            src: Numbers = Numbers { next: 0, stop: &STOP };
            #[worker(1)]
            #[on_panic(resume(max = 1000000, within = 1s))]
            fragile: Fragile = Fragile::new();
            src.out -> fragile.inp;
        },
        "restart" => graph! {
            workers = 2;
            src: Numbers = Numbers { next: 0, stop: &STOP };
            #[worker(1)]
            #[on_panic(restart(max = 1000000, within = 1s))]
            fragile: Fragile = Fragile::new();
            src.out -> fragile.inp;
        },
        _ => graph! {
            workers = 2;
            src: Numbers = Numbers { next: 0, stop: &STOP };
            #[worker(1)]
            #[on_panic(snapshot(every = 10ms, max = 1000000, within = 1s))]
            fragile: Fragile = Fragile::new();
            src.out -> fragile.inp;
        },
    }
    .run()
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    STOP.store(true, Ordering::Relaxed);
    running.join().unwrap();
    let mut gaps = GAPS.lock().unwrap().clone();
    let n = gaps.len();
    (quantile(&mut gaps, 0.5), quantile(&mut gaps, 0.99), n)
}

/// The baseline: `catch_unwind` of a `panic!`, 2,000 times.
fn plain_panic() -> (Duration, Duration) {
    let mut t: Vec<u64> = (0..2_000)
        .map(|i| {
            let start = now();
            let r = std::panic::catch_unwind(|| {
                if std::hint::black_box(i) >= 0 {
                    panic!("benchmark panic");
                }
            });
            assert!(r.is_err());
            now() - start
        })
        .collect();
    (quantile(&mut t, 0.5), quantile(&mut t, 0.99))
}

/// The stage a watched update replaces: records when it handles a packet
/// after a rollback.
#[derive(Default)]
struct Steady;

#[component]
impl Steady {
    #[input]
    fn inp(&mut self, _x: u64) {
        let panicked = PANICKED_AT.swap(0, Ordering::Relaxed);
        if panicked != 0 {
            GAPS.lock().unwrap().push(now() - panicked);
        }
    }
}

/// The bad new version: panics on its first packet.
#[derive(Default)]
struct Broken;

#[component(version = 2)]
impl Broken {
    #[input]
    fn inp(&mut self, _x: u64) {
        if PANICKED_AT.load(Ordering::Relaxed) == 0 {
            PANICKED_AT.store(now(), Ordering::Relaxed);
        }
        panic!("benchmark panic in a new version");
    }
}

/// `n` watched updates to a version that panics at once: panic to the
/// old version handling packets again, p50 and p99.
fn rollbacks(n: usize) -> (Duration, Duration) {
    static STOP: AtomicBool = AtomicBool::new(false);
    STOP.store(false, Ordering::Relaxed);
    GAPS.lock().unwrap().clear();
    PANICKED_AT.store(0, Ordering::Relaxed);
    let running: Running = graph! {
        workers = 2;
        src: Numbers = Numbers { next: 0, stop: &STOP };
        #[worker(1)]
        stage: Steady;
        src.out -> stage.inp;
    }
    .run()
    .unwrap();
    for i in 0..n {
        running
            .update(
                Update::new()
                    .replace_with("stage", Broken)
                    .watch(Duration::from_secs(10)),
            )
            .unwrap();
        while running.rollbacks().len() < (i + 1).min(evoflow::HISTORY)
            || GAPS.lock().unwrap().len() <= i
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    STOP.store(true, Ordering::Relaxed);
    running.join().unwrap();
    let mut gaps = GAPS.lock().unwrap().clone();
    (quantile(&mut gaps, 0.5), quantile(&mut gaps, 0.99))
}

fn range(v: &[Duration]) -> String {
    let mut v = v.to_vec();
    v.sort();
    format!(
        "{:.1?} [{:.1?}..{:.1?}]",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // The panics are the point; the default hook would print each.
    std::panic::set_hook(Box::new(|_| {}));
    const ROUNDS: usize = 3;
    println!("panic to the next packet handled (2 s rounds, every 997th packet panics, {ROUNDS} rounds: median [min..max])");
    println!(
        "  {:<26} {:>28} {:>28} {:>8}",
        "policy", "p50", "p99", "panics"
    );
    let (mut b50, mut b99) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let (a, b) = plain_panic();
        b50.push(a);
        b99.push(b);
    }
    println!(
        "  {:<26} {:>28} {:>28} {:>8}",
        "baseline: catch_unwind",
        range(&b50),
        range(&b99),
        2_000 * ROUNDS
    );
    for policy in ["resume", "restart", "snapshot"] {
        let (mut p50, mut p99, mut count) = (vec![], vec![], 0);
        for _ in 0..ROUNDS {
            let (a, b, n) = round(policy);
            p50.push(a);
            p99.push(b);
            count += n;
        }
        println!(
            "  {policy:<26} {:>28} {:>28} {:>8}",
            range(&p50),
            range(&p99),
            count
        );
    }
    let (mut p50, mut p99) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let (a, b) = rollbacks(100);
        p50.push(a);
        p99.push(b);
    }
    println!(
        "panic of a watched update's new version to the old one handling packets (100 rollbacks x {ROUNDS}): p50 {}, p99 {}",
        range(&p50),
        range(&p99)
    );
}
