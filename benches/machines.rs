//! An arc between machines against the same arc within one machine: a
//! source and a sink, u64 and 1 KiB packets, each run in one process —
//! within one machine on two workers (a ring between threads), and as two
//! machines (two threads, each its own endpoint, over loopback TCP, one
//! gRPC stream, postcard batches, credits). Needs `etcd` (Debian
//! `etcd-server`): the bench starts one.
//!
//!     cargo bench --bench machines      # EVOFLOW_MACHINES_ROUNDS=5 by default
//!     EVOFLOW_MACHINES_ONLY=updates cargo bench --bench machines  # updates only
//!
//! Prints packets/s per round and the ratio across/within of each round,
//! then the median and range of the ratios. Then the latency of an update
//! of two instances that change together — a tagger on front and its
//! partner on back, as one update spanning the machines (etcd decides) —
//! beside the same update within one machine.

#[path = "../cluster/tests/support/etcd.rs"]
mod etcd;

use evoflow::{component, graph, Flow, MachineConfig, Outputs, Program, Spanning, Update};
use std::time::{Duration, Instant};

/// Emits `left` packets made by `make`.
struct Gen<T: 'static> {
    left: u64,
    make: fn(u64) -> T,
}

#[component(outputs(out: u64))]
impl Gen<u64> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.left == 0 {
            return Flow::Done;
        }
        self.left -= 1;
        out.out((self.make)(self.left));
        Flow::Continue
    }
}

/// 1 KiB as serde bytes (one copy, not a sequence of u8s).
#[derive(serde::Serialize, serde::Deserialize)]
struct Kib(#[serde(with = "serde_bytes")] Vec<u8>);

#[component(outputs(out: Kib))]
impl Gen<Kib> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.left == 0 {
            return Flow::Done;
        }
        self.left -= 1;
        out.out((self.make)(self.left));
        Flow::Continue
    }
}

/// Counts packets and times the first to the last.
#[derive(Default)]
struct Sink {
    count: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Sink {
    fn take(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.count += 1;
    }

    fn rate(&self) -> f64 {
        let t = self.last.unwrap() - self.first.unwrap();
        (self.count - 1) as f64 / t.as_secs_f64()
    }
}

#[derive(Default)]
struct Sink64(Sink);

#[component]
impl Sink64 {
    #[input]
    fn inp(&mut self, _x: u64) {
        self.0.take();
    }
}

#[derive(Default)]
struct SinkKiB(Sink);

#[component]
impl SinkKiB {
    #[input]
    fn inp(&mut self, x: Kib) {
        assert_eq!(x.0.len(), 1024);
        self.0.take();
    }
}

fn kib(i: u64) -> Kib {
    Kib(vec![i as u8; 1024])
}

fn within_u64(n: u64) -> f64 {
    let mut r = graph! {
        workers = 2;
        capacity = 1024;
        #[worker(0)] gen: Gen<u64> = Gen { left: n, make: |i| i };
        #[worker(1)] sink: Sink64;
        gen.out -> sink.inp;
    }
    .run_to_end()
    .unwrap();
    r.take::<Sink64>("sink").unwrap().0.rate()
}

fn within_kib(n: u64) -> f64 {
    let mut r = graph! {
        workers = 2;
        capacity = 1024;
        #[worker(0)] gen: Gen<Kib> = Gen { left: n, make: kib };
        #[worker(1)] sink: SinkKiB;
        gen.out -> sink.inp;
    }
    .run_to_end()
    .unwrap();
    r.take::<SinkKiB>("sink").unwrap().0.rate()
}

/// Runs `program()` on front (a thread) and back (here); gives back's report.
fn across(
    etcd: &etcd::Etcd,
    program: impl Fn() -> Program + Send + Sync + 'static,
) -> evoflow::Report {
    let config = MachineConfig::new(etcd.endpoints(), "127.0.0.1:0".parse().unwrap());
    let program = std::sync::Arc::new(program);
    let front = {
        let (config, program) = (config.clone(), program.clone());
        std::thread::spawn(move || program().run_on("front", &config).unwrap().join().unwrap())
    };
    let report = program().run_on("back", &config).unwrap().join().unwrap();
    front.join().unwrap();
    report
}

fn across_u64(etcd: &etcd::Etcd, n: u64) -> f64 {
    let mut r = across(etcd, move || {
        graph! {
            name = "bench-u64";
            machines = { front: 1, back: 1 };
            capacity = 1024;
            #[machine(front)] gen: Gen<u64> = Gen { left: n, make: |i| i };
            #[machine(back)] sink: Sink64;
            gen.out -> sink.inp;
        }
    });
    r.take::<Sink64>("sink").unwrap().0.rate()
}

fn across_kib(etcd: &etcd::Etcd, n: u64) -> f64 {
    let mut r = across(etcd, move || {
        graph! {
            name = "bench-kib";
            machines = { front: 1, back: 1 };
            capacity = 1024;
            #[machine(front)] gen: Gen<Kib> = Gen { left: n, make: kib };
            #[machine(back)] sink: SinkKiB;
            gen.out -> sink.inp;
        }
    });
    r.take::<SinkKiB>("sink").unwrap().0.rate()
}

/// Emits 0, 1, 2, … until stopped, about 64 per millisecond.
struct Ticks(u64);

#[component(outputs(out: u64))]
impl Ticks {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        out.out(self.0);
        self.0 += 1;
        if self.0.is_multiple_of(64) {
            return Flow::after(Duration::from_millis(1));
        }
        Flow::Continue
    }
}

/// Tags packets with `V`.
#[derive(Default)]
struct Tag<const V: u32>;

#[component(outputs(out: (u32, u64)))]
impl Tag<1> {
    #[input]
    fn inp(&mut self, n: u64, out: &mut Outputs<Self>) {
        out.out((1, n));
    }
}

#[component(outputs(out: (u32, u64)), version = 2)]
impl Tag<2> {
    #[input]
    fn inp(&mut self, n: u64, out: &mut Outputs<Self>) {
        out.out((2, n));
    }
}

/// Takes tagged packets (the tagger's partner: they change together).
#[derive(Default)]
struct Take<const V: u32>(u64);

#[component]
impl Take<1> {
    #[input]
    fn inp(&mut self, _x: (u32, u64)) {
        self.0 += 1;
    }
}

#[component(version = 2)]
impl Take<2> {
    #[input]
    fn inp(&mut self, _x: (u32, u64)) {
        self.0 += 1;
    }
}

/// Replaces `instance` (`x`, the tagger, or `y`, its partner) by its
/// version `with` (`1` or `2`).
fn version(u: Update, instance: &str, with: &str) -> Result<Update, String> {
    Ok(match (instance, with) {
        ("x", "1") => u.replace_with("x", Tag::<1>),
        ("x", "2") => u.replace_with("x", Tag::<2>),
        ("y", "1") => u.replace_with("y", Take::<1>::default()),
        ("y", "2") => u.replace_with("y", Take::<2>::default()),
        _ => return Err(format!("no version {with:?} of `{instance}`")),
    })
}

/// `k` updates of a tagger on front and its partner on back, back and
/// forth while packets flow, each one update spanning the two machines:
/// timed from the request to the last machine's report.
fn spanning_latency(etcd: &etcd::Etcd, k: usize) -> Vec<Duration> {
    let program = || {
        graph! {
            name = "bench-span";
            machines = { front: 1, back: 1 };
            capacity = 64;
            #[machine(front)] src: Ticks = Ticks(0);
            #[machine(front)] x: Tag<1>;
            #[machine(back)] y: Take<1>;
            src.out -> x.inp;
            x.out -> y.inp;
        }
        .replacements(version)
    };
    let config = MachineConfig::new(etcd.endpoints(), "127.0.0.1:0".parse().unwrap());
    let front = {
        let config = config.clone();
        std::thread::spawn(move || program().run_on("front", &config).unwrap().join().unwrap())
    };
    let back = program().run_on("back", &config).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let times = (0..k)
        .map(|i| {
            let to = if i % 2 == 0 { "2" } else { "1" };
            let t = Instant::now();
            back.update_everywhere(Spanning::new().replace("x", to).replace("y", to))
                .unwrap();
            t.elapsed()
        })
        .collect();
    back.stop().unwrap();
    back.join().unwrap();
    front.join().unwrap();
    times
}

/// The same `k` updates of the same two instances in one graph on one
/// machine (two workers): the baseline.
fn local_latency(k: usize) -> Vec<Duration> {
    let running = graph! {
        workers = 2;
        capacity = 64;
        #[worker(0)] src: Ticks = Ticks(0);
        #[worker(0)] x: Tag<1>;
        #[worker(1)] y: Take<1>;
        src.out -> x.inp;
        x.out -> y.inp;
    }
    .run()
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let times = (0..k)
        .map(|i| {
            let to = if i % 2 == 0 { "2" } else { "1" };
            let u = version(Update::new(), "x", to).unwrap();
            let u = version(u, "y", to).unwrap();
            let t = Instant::now();
            running.update(u).unwrap();
            t.elapsed()
        })
        .collect();
    running.stop();
    running.join().unwrap();
    times
}

/// p50 and p99 of `times`, in ms.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    // `cargo bench` passes `--bench`; a filter run (`cargo test --benches`)
    // does not: then run nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(etcd) = etcd::Etcd::start() else {
        return;
    };
    let rounds: usize = std::env::var("EVOFLOW_MACHINES_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (n64, nkib) = (5_000_000, 500_000);
    let (mut r64, mut rkib) = (Vec::new(), Vec::new());
    let only = std::env::var("EVOFLOW_MACHINES_ONLY").unwrap_or_default();
    for round in (0..rounds).filter(|_| only != "updates") {
        let (w, a) = (within_u64(n64), across_u64(&etcd, n64));
        println!(
            "round {round} u64:   within {:>6.2} M/s  across {:>6.2} M/s  across/within {:.2}",
            w / 1e6,
            a / 1e6,
            a / w
        );
        r64.push(a / w);
        let (w, a) = (within_kib(nkib), across_kib(&etcd, nkib));
        println!(
            "round {round} 1 KiB: within {:>6.2} M/s  across {:>6.2} M/s  across/within {:.2}",
            w / 1e6,
            a / 1e6,
            a / w
        );
        rkib.push(a / w);
        std::thread::sleep(Duration::from_millis(200));
    }
    for (what, r) in [("u64", r64), ("1 KiB", rkib)]
        .into_iter()
        .filter(|_| only != "updates")
    {
        let (m, lo, hi) = median(r);
        println!("{what}: across/within median {m:.2} [{lo:.2}, {hi:.2}] over {rounds} rounds");
    }
    // Updates of a tagger and its partner, which change together.
    let k = 100;
    let (mut spans, mut locals) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (sp, lp) = (
            percentiles(spanning_latency(&etcd, k)),
            percentiles(local_latency(k)),
        );
        println!(
            "round {round} update of 2 instances: across machines p50 {:.2} ms p99 {:.2} ms; one machine p50 {:.3} ms p99 {:.3} ms; p50 across/one {:.0}x",
            sp.0, sp.1, lp.0, lp.1, sp.0 / lp.0
        );
        spans.push(sp);
        locals.push(lp);
    }
    let (p50, lo50, hi50) = median(spans.iter().map(|p| p.0).collect());
    let (p99, lo99, hi99) = median(spans.iter().map(|p| p.1).collect());
    let (l50, _, _) = median(locals.iter().map(|p| p.0).collect());
    println!(
        "update spanning two machines ({k} per round): p50 median {p50:.2} ms [{lo50:.2}, {hi50:.2}], p99 median {p99:.2} ms [{lo99:.2}, {hi99:.2}]; one machine p50 median {l50:.3} ms"
    );
}
