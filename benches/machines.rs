//! An arc between machines against the same arc within one machine: a
//! source and a sink, u64 and 1 KiB packets, each run in one process —
//! within one machine on two workers (a ring between threads), and as two
//! machines (two threads, each its own endpoint, over loopback TCP, one
//! gRPC stream, postcard batches, credits). Needs `etcd` (Debian
//! `etcd-server`): the bench starts one.
//!
//!     cargo bench --bench machines      # EVOFLOW_MACHINES_ROUNDS=5 by default
//!
//! Prints packets/s per round and the ratio across/within of each round,
//! then the median and range of the ratios.

#[path = "../cluster/tests/support/etcd.rs"]
mod etcd;

use evoflow::{component, graph, Flow, MachineConfig, Outputs, Program};
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
    for round in 0..rounds {
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
    for (what, r) in [("u64", r64), ("1 KiB", rkib)] {
        let (m, lo, hi) = median(r);
        println!("{what}: across/within median {m:.2} [{lo:.2}, {hi:.2}] over {rounds} rounds");
    }
}
