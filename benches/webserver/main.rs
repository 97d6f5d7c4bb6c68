//! The web server under load while it is updated live, next to what users
//! would run instead. One command:
//!
//!     cargo bench --bench webserver
//!
//! For each server it drives 32 keep-alive connections with a Rust load
//! generator, at saturation and at a fixed offered rate below it, records
//! every request in 10 ms windows, prints a table of results and ratios,
//! and draws `benches/results/webserver.png`. The evoflow server is run
//! without updates, while applying every live-update scenario (ending with
//! 10 updates per second), and deployed the usual way: killed and
//! restarted as a new process. A bad update (a `compose` that panics on
//! some requests) is deployed live, watched and not, next to the kill
//! and restart. Baselines: a hand-written thread-per-
//! connection server and a hyper server with the same rules.

#[path = "../../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;

mod baselines;
mod load;
mod plot;

use evoflow::Running;
use load::{Offer, Sample, Window};
use plotters::style::RGBColor;
use server::load::Root;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const CONNS: usize = 32;
/// Worker threads of the evoflow server. The load generator runs on the
/// same two cores; one worker leaves the other core to it, which measures
/// faster than two workers competing with it for the cores.
const WORKERS: usize = 1;
const RUN: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_millis(10);
/// Windows ignored at the start of a run (connections warming up).
const WARMUP: usize = 20;
const PATH: &str = "/index.html";

fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evoflow-bench-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = format!(
        "<!doctype html><h1>bench</h1>{}\n",
        "<p>evoflow serves this page.</p>".repeat(30)
    );
    std::fs::write(dir.join("index.html"), page).unwrap();
    dir
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn evoflow_server(root: &Path) -> (Running, SocketAddr) {
    let (listener, addr) = listener();
    let config = server::Config {
        listener,
        root: Some(root.to_owned()),
        workers: WORKERS,
        max_connections: server::MAX_CONNECTIONS,
    };
    (server::server(config).unwrap().run().unwrap(), addr)
}

/// A server (`evoflow`, `threaded` or `hyper`) in a child process: this
/// benchmark, re-executed with `--serve` (`workers` is evoflow's).
fn spawn_child(kind: &str, addr: SocketAddr, root: &Path, workers: usize) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--serve",
            kind,
            &addr.to_string(),
            root.to_str().unwrap(),
            &workers.to_string(),
        ])
        .spawn()
        .expect("start a server process");
    // Ready when it accepts.
    let t = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// Applies every scenario during a run; returns when each was applied.
fn apply_scenarios(running: &Running, root: Root, start: Instant) -> Vec<Duration> {
    use server::scenarios::*;
    let mut plan: Vec<(f64, evoflow::Update)> = vec![
        (0.5, header(true)),
        (1.0, header(false)),
        (1.5, insert_cache(root.clone())),
        (2.0, upgrade_cache()),
        (2.5, remove_cache()),
        (3.0, streaming(true, root.clone())),
        (3.5, streaming(false, root.clone())),
    ];
    // Then 10 updates per second until the end.
    for i in 0..10 {
        plan.push((4.0 + i as f64 * 0.1, header(i % 2 == 0)));
    }
    let mut moments = Vec::new();
    for (at, update) in plan {
        let when = start + Duration::from_secs_f64(at);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
        running.update(update).expect("scenario applies");
        moments.push(start.elapsed());
    }
    moments
}

/// Summary of one run.
struct Result {
    name: String,
    windows: Vec<Window>,
    samples: Vec<Sample>,
}

impl Result {
    fn new(name: &str, samples: Vec<Sample>) -> Self {
        Result {
            name: name.to_owned(),
            windows: load::windows(&samples, RUN, WINDOW),
            samples,
        }
    }
    fn measured(&self) -> &[Window] {
        let n = self.windows.len();
        &self.windows[WARMUP.min(n)..n.saturating_sub(1)]
    }
    fn rps(&self) -> f64 {
        let done: u64 = self.measured().iter().map(|w| w.done).sum();
        done as f64 / (self.measured().len() as f64 * WINDOW.as_secs_f64())
    }
    fn failed(&self) -> u64 {
        self.samples.iter().filter(|s| !s.ok).count() as u64
    }
    /// Latency quantile `q` of the successful requests.
    fn latency(&self, q: f64) -> Duration {
        let mut l: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.latency)
            .collect();
        load::percentile(&mut l, q)
    }
    fn p99(&self) -> Duration {
        self.latency(0.99)
    }
    fn p50(&self) -> Duration {
        self.latency(0.50)
    }
    /// Lowest window throughput relative to `steady` requests/s.
    fn min_window(&self, steady: f64) -> f64 {
        self.measured()
            .iter()
            .map(|w| w.done as f64 / WINDOW.as_secs_f64() / steady)
            .fold(f64::MAX, f64::min)
    }
}

fn run_evoflow(root: &Path, offer: Offer, updates: bool) -> (Result, Vec<Duration>) {
    let (running, addr) = evoflow_server(root);
    let start = Instant::now();
    let (samples, moments) = std::thread::scope(|s| {
        let gen = s.spawn(|| load::run(addr, PATH, CONNS, offer, RUN));
        let moments = if updates {
            apply_scenarios(&running, Root::new(Some(root)).unwrap(), start)
        } else {
            Vec::new()
        };
        (gen.join().unwrap(), moments)
    });
    running.stop();
    drop(running);
    let name = if updates {
        "evoflow, live updates"
    } else {
        "evoflow, no updates"
    };
    (Result::new(name, samples), moments)
}

/// A bad `compose` (it panics on every 50th request of a connection)
/// deployed live halfway through the run: watched (the server rolls it
/// back by itself after its first panic) or not (it keeps failing those
/// requests, each answered with a 500). Returns the run and, if watched,
/// the time from the update to the rollback being in place.
fn run_bad_update(root: &Path, offer: Offer, watched: bool) -> (Result, Option<Duration>) {
    let (running, addr) = evoflow_server(root);
    let (samples, rolled_back) = std::thread::scope(|s| {
        let gen = s.spawn(|| load::run(addr, PATH, CONNS, offer, RUN));
        std::thread::sleep(Duration::from_millis(2500));
        let update = if watched {
            server::scenarios::buggy_header(Duration::from_secs(10))
        } else {
            (0..server::LANES).fold(evoflow::Update::new(), |u, lane| {
                u.replace_with(&format!("compose{lane}"), server::compose::ComposeBuggy)
            })
        };
        let at = Instant::now();
        running.update(update).expect("the bad update applies");
        let mut rolled_back = None;
        while watched && rolled_back.is_none() && at.elapsed() < RUN {
            if !running.rollbacks().is_empty() {
                rolled_back = Some(at.elapsed());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        (gen.join().unwrap(), rolled_back)
    });
    running.stop();
    drop(running);
    let name = if watched {
        "bad update, watched"
    } else {
        "bad update, not watched"
    };
    (Result::new(name, samples), rolled_back)
}

fn run_restart(root: &Path, offer: Offer) -> (Result, Duration) {
    let (l, addr) = listener();
    drop(l);
    let mut child = spawn_child("evoflow", addr, root, WORKERS);
    let start = Instant::now();
    let (samples, at) = std::thread::scope(|s| {
        let gen = s.spawn(|| load::run(addr, PATH, CONNS, offer, RUN));
        std::thread::sleep(Duration::from_millis(2500));
        let at = start.elapsed();
        child.kill().unwrap();
        child.wait().unwrap();
        child = spawn_child("evoflow", addr, root, WORKERS);
        (gen.join().unwrap(), at)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    (Result::new("kill and restart", samples), at)
}

fn run_baseline(name: &str, root: &Path, offer: Offer, start: fn(TcpListener, Root)) -> Result {
    let (l, addr) = listener();
    start(l, Root::new(Some(root)).unwrap());
    Result::new(name, load::run(addr, PATH, CONNS, offer, RUN))
}

/// nginx (Debian's `nginx-light`) serving `root` on `addr` with `workers`
/// worker processes, as a user would run it for static files: sendfile,
/// no access log, no open-file cache.
fn spawn_nginx(addr: SocketAddr, root: &Path, workers: usize) -> Option<Child> {
    Command::new("nginx").arg("-v").output().ok()?;
    let dir = root.with_extension("nginx");
    std::fs::create_dir_all(&dir).ok()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process on; worker_processes {workers}; user root; pid {pid};\n\
             error_log {err} crit;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{ listen {addr}; root {root}; }} }}\n",
            pid = dir.join("nginx.pid").display(),
            err = dir.join("error.log").display(),
            d = dir.display(),
            root = root.display(),
        ),
    )
    .ok()?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let t = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    Some(child)
}

/// Saturation throughput and p99 latency measured by wrk (Debian's
/// `wrk`), if installed, next to nginx (`nginx-light`) if installed: with
/// one worker each, then two workers each; the same file, `wrk -t1 -c32
/// -d4s --latency`, interleaved rounds (5, or `EVOFLOW_WRK_ROUNDS`),
/// median [min, max]; the ratios are taken within each round (the servers
/// of a round run back to back, so slow drifts of a shared machine cancel)
/// and reported as their median [min, max]. What each
/// server does per request: evoflow opens the file under its root
/// (`openat2`, `RESOLVE_BENEATH`), `fstat`s it and reads it (it is under
/// 64 KiB) into one write; nginx opens, `fstat`s and `sendfile`s; the
/// hyper and thread-per-connection baselines (one worker only: hyper runs
/// tokio with 2 threads) do evoflow's work (the same `load` code) from
/// their own threads. With two workers, also evoflow with its workers
/// pinned to a CPU each (`Graph::pin_workers`; nginx's are not pinned).
fn wrk_comparison(root: &Path) {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk not installed (apt-get install wrk): skipping the wrk comparison");
        return;
    }
    let nginx = Command::new("nginx").arg("-v").output().is_ok();
    if !nginx {
        println!("nginx not installed (apt-get install nginx-light): comparing without it");
    }
    for workers in [1, 2] {
        let kinds: Vec<&str> = ["evoflow", "nginx", "hyper", "threaded", "evoflow-pinned"]
            .into_iter()
            .filter(|k| *k != "nginx" || nginx)
            .filter(|k| match workers {
                1 => *k != "evoflow-pinned",
                _ => matches!(*k, "evoflow" | "nginx" | "evoflow-pinned"),
            })
            .collect();
        // Per server: requests/s and p99 (ms) of each round.
        let mut results: Vec<(&str, Vec<f64>, Vec<f64>)> =
            kinds.iter().map(|k| (*k, Vec::new(), Vec::new())).collect();
        let rounds: usize = std::env::var("EVOFLOW_WRK_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        for _round in 0..rounds {
            for (kind, rps, p99) in &mut results {
                let (r, p) = wrk_once(kind, root, workers);
                rps.push(r);
                p99.push(p);
            }
        }
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        println!(
            "wrk -t1 -c{CONNS} -d4s, {workers} worker(s) each, median [min, max] of {rounds} rounds; \
             evoflow / server: median [min, max] of the rounds' ratios:"
        );
        let (evo, evo_p99) = (&results[0].1, &results[0].2);
        let ratios =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(a, b)| a / b).collect() };
        for (kind, rps, p99) in &results {
            let ((m, lo, hi), (p, plo, phi)) = (median(rps), median(p99));
            let (r, rlo, rhi) = median(&ratios(evo, rps));
            let (q, qlo, qhi) = median(&ratios(evo_p99, p99));
            println!(
                "  {kind:<10} {m:>10.0} req/s [{lo:.0}, {hi:.0}]  p99 {p:.2} ms [{plo:.2}, {phi:.2}]   \
                 evoflow / {kind}: {r:.2}x [{rlo:.2}, {rhi:.2}] throughput, {q:.2}x [{qlo:.2}, {qhi:.2}] p99"
            );
        }
        let find = |kind: &str| results.iter().find(|(k, _, _)| *k == kind);
        if let (Some((_, prps, pp99)), Some((_, nrps, np99))) =
            (find("evoflow-pinned"), find("nginx"))
        {
            let (r, rlo, rhi) = median(&ratios(prps, nrps));
            let (q, qlo, qhi) = median(&ratios(pp99, np99));
            println!(
                "  evoflow-pinned / nginx: {r:.2}x [{rlo:.2}, {rhi:.2}] throughput, \
                 {q:.2}x [{qlo:.2}, {qhi:.2}] p99"
            );
        }
    }
}

/// One wrk run against a fresh server of `kind` with `workers`: requests
/// per second and p99 latency in ms.
fn wrk_once(kind: &str, root: &Path, workers: usize) -> (f64, f64) {
    let (l, addr) = listener();
    drop(l);
    let mut child = match kind {
        "nginx" => spawn_nginx(addr, root, workers).expect("nginx starts"),
        kind => spawn_child(kind, addr, root, workers),
    };
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNS}"),
            "-d4s",
            "--latency",
            &format!("http://{addr}{PATH}"),
        ])
        .output()
        .expect("wrk runs");
    if kind == "nginx" {
        // Its workers exit with the master on a graceful stop.
        let _ = Command::new("kill")
            .args(["-QUIT", &child.id().to_string()])
            .status();
    } else {
        let _ = child.kill();
    }
    child.wait().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    // `     99%    1.23ms` (or us, or s).
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .and_then(|v| {
            let unit = v.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            let n: f64 = v[..v.len() - unit.len()].parse().ok()?;
            Some(match unit {
                "us" => n / 1000.0,
                "ms" => n,
                "s" => n * 1000.0,
                _ => return None,
            })
        })
        .unwrap_or(f64::NAN);
    (rps, p99)
}

/// CPU ticks (1/100 s) used by this process's evoflow worker threads.
fn worker_ticks() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !comm.starts_with("evoflow-") {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?)
        })
        .sum()
}

fn rss_mib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
        / (1 << 20)
}

/// p99 of 500 small GETs on one connection.
fn small_p99(addr: SocketAddr) -> Duration {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let _ = s.set_nodelay(true);
    let mut lat: Vec<Duration> = (0..500)
        .map(|_| {
            let t = Instant::now();
            s.write_all(format!("GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while !buf.ends_with(b"</p>\n") {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            t.elapsed()
        })
        .collect();
    load::percentile(&mut lat, 0.99)
}

/// Downloads `path` from `addr` as fast as it comes until `stop`;
/// returns the bytes received.
fn download(
    addr: SocketAddr,
    path: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (mut got, mut buf) = (0, vec![0u8; 256 * 1024]);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        got
    })
}

/// The server's limits: idle CPU; small requests beside a client that
/// downloads a 1 GiB file as fast as it can; small requests and memory
/// beside a client that GETs the 1 GiB file without reading and one that
/// pipelines 2,000 GETs of a 1 MiB file and reads nothing.
fn limits(root: &Path) {
    use std::io::Write;
    std::fs::File::create(root.join("huge.bin"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    std::fs::File::create(root.join("mid.bin"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let (running, addr) = evoflow_server(root);
    let quiet = small_p99(addr);
    std::thread::sleep(Duration::from_millis(500));
    let (ticks, t) = (worker_ticks(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let idle = (worker_ticks() - ticks) as f64 / 100.0 / t.elapsed().as_secs_f64();
    let rss = rss_mib();
    let (downloading, rate) = beside_a_download(addr);
    let rss_downloading = rss_mib().saturating_sub(rss);
    let mut huge = std::net::TcpStream::connect(addr).unwrap();
    huge.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut burst = std::net::TcpStream::connect(addr).unwrap();
    burst
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let one = b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let all: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * 2_000)
        .collect();
    let _ = burst.write_all(&all);
    std::thread::sleep(Duration::from_millis(200));
    let busy = small_p99(addr);
    let grown = rss_mib().saturating_sub(rss);
    println!("limits (1 worker, release):");
    println!("  idle CPU of the workers: {:.3} % of a core", 100.0 * idle);
    println!(
        "  small GETs p99: {quiet:.1?} alone, {downloading:.1?} beside a client downloading a 1 GiB file ({:.0} MiB/s, resident memory +{rss_downloading} MiB), {busy:.1?} beside a 1 GiB download and 2,000 pipelined 1 MiB GETs whose clients read nothing",
        rate / (1 << 20) as f64
    );
    println!("  resident memory grown by those two clients: {grown} MiB");
    drop((huge, burst));
    running.stop();
    drop(running);
    // The same download beside nginx (one worker, sendfile), the same
    // generator: what the machine allows.
    let (l, addr) = listener();
    drop(l);
    if let Some(mut nginx) = spawn_nginx(addr, root, 1) {
        let quiet = small_p99(addr);
        let (downloading, rate) = beside_a_download(addr);
        println!(
            "  nginx (1 worker): small GETs p99 {quiet:.1?} alone, {downloading:.1?} beside the 1 GiB download ({:.0} MiB/s)",
            rate / (1 << 20) as f64
        );
        let _ = Command::new("kill")
            .args(["-QUIT", &nginx.id().to_string()])
            .status();
        nginx.wait().unwrap();
    }
}

/// p99 of small GETs while another client downloads a 1 GiB file as fast
/// as it can, and the download's rate in bytes per second.
fn beside_a_download(addr: SocketAddr) -> (Duration, f64) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloader = download(addr, "/huge.bin", stop.clone());
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let p99 = small_p99(addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rate = downloader.join().unwrap() as f64 / t.elapsed().as_secs_f64();
    (p99, rate)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--serve KIND ADDR ROOT WORKERS`: run one server in this process
    // (used for kill and restart, and to point other load generators such
    // as wrk at).
    if args.get(1).map(String::as_str) == Some("--serve") {
        let listener = TcpListener::bind(&args[3]).expect("bind");
        let root = PathBuf::from(&args[4]);
        let workers = args[5].parse().expect("a worker count");
        match args[2].as_str() {
            "threaded" => baselines::threaded(listener, Root::new(Some(&root)).unwrap()),
            "hyper" => baselines::hyper(listener, Root::new(Some(&root)).unwrap()),
            _ => {
                let config = server::Config {
                    listener,
                    root: Some(root),
                    workers,
                    max_connections: server::MAX_CONNECTIONS,
                };
                let graph = server::server(config).unwrap();
                let graph = match args[2].as_str() {
                    "evoflow-pinned" => graph.pin_workers(),
                    _ => graph,
                };
                graph.run().unwrap().join().unwrap();
            }
        }
        loop {
            std::thread::park();
        }
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks for benchmark names; there are none to list.
    }
    let root = site();
    if args.iter().any(|a| a == "--wrk") {
        wrk_comparison(&root);
        std::fs::remove_dir_all(&root).unwrap();
        return;
    }
    if args.iter().any(|a| a == "--limits") {
        limits(&root);
        std::fs::remove_dir_all(&root).unwrap();
        return;
    }
    println!("saturation runs ({CONNS} keep-alive connections, {RUN:?} each)...");
    let (steady, _) = run_evoflow(&root, Offer::Saturate, false);
    let (updating, moments) = run_evoflow(&root, Offer::Saturate, true);
    let (restart, restart_at) = run_restart(&root, Offer::Saturate);
    // The bad version's panics are expected: keep them off the terminal.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("compose v2 bug") {
            hook(info)
        }
    }));
    let (bad_watched, rolled_back) = run_bad_update(&root, Offer::Saturate, true);
    let (bad_unwatched, _) = run_bad_update(&root, Offer::Saturate, false);
    let threaded = run_baseline(
        "thread per connection",
        &root,
        Offer::Saturate,
        baselines::threaded,
    );
    let hyper = run_baseline("hyper", &root, Offer::Saturate, baselines::hyper);
    let rate = (steady.rps() * 0.5) as u64;
    println!("fixed-rate runs at {rate} requests/s (half of evoflow's saturation)...");
    let (steady_r, _) = run_evoflow(&root, Offer::Rate(rate), false);
    let (updating_r, _) = run_evoflow(&root, Offer::Rate(rate), true);
    let (restart_r, _) = run_restart(&root, Offer::Rate(rate));

    println!("\nat saturation:");
    println!(
        "  {:<26} {:>10} {:>9} {:>9} {:>8} {:>12}",
        "server", "req/s", "p50", "p99", "failed", "min window"
    );
    for r in [
        &steady,
        &updating,
        &restart,
        &bad_watched,
        &bad_unwatched,
        &threaded,
        &hyper,
    ] {
        println!(
            "  {:<26} {:>10.0} {:>9.1?} {:>9.1?} {:>8} {:>11.0}%",
            r.name,
            r.rps(),
            r.p50(),
            r.p99(),
            r.failed(),
            100.0 * r.min_window(steady.rps())
        );
    }
    println!("at {rate} requests/s:");
    for r in [&steady_r, &updating_r, &restart_r] {
        println!(
            "  {:<26} {:>10.0} {:>9.1?} {:>9.1?} {:>8}",
            r.name,
            r.rps(),
            r.p50(),
            r.p99(),
            r.failed()
        );
    }
    println!("ratios:");
    println!(
        "  evoflow / thread per connection (throughput): {:.2}x",
        steady.rps() / threaded.rps()
    );
    println!(
        "  evoflow / hyper (throughput):                 {:.2}x",
        steady.rps() / hyper.rps()
    );
    println!(
        "  throughput while updating / without:          {:.3}x",
        updating.rps() / steady.rps()
    );
    println!(
        "  lowest 10 ms window while updating:           {:.0}% of steady",
        100.0 * updating.min_window(steady.rps())
    );
    println!(
        "  p99 while updating / without (fixed rate):    {:.2}x",
        updating_r.p99().as_secs_f64() / steady_r.p99().as_secs_f64()
    );
    println!(
        "  failed requests while updating:               {} (kill and restart: {})",
        updating.failed() + updating_r.failed(),
        restart.failed() + restart_r.failed()
    );
    println!(
        "  {} updates applied per run; restart at {restart_at:.1?}",
        moments.len()
    );
    println!(
        "  bad update at 2.5 s, requests failed: watched {} (rolled back {:.1?} after the update), not watched {}, kill and restart {}",
        bad_watched.failed(),
        rolled_back.unwrap_or_default(),
        bad_unwatched.failed(),
        restart.failed()
    );
    println!(
        "  throughput with the bad update / without:      watched {:.3}x, not watched {:.3}x",
        bad_watched.rps() / steady.rps(),
        bad_unwatched.rps() / steady.rps()
    );

    wrk_comparison(&root);
    limits(&root);

    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results/webserver.png");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let (blue, red, grey) = (
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(120, 120, 120),
    );
    fn series(r: &Result, color: RGBColor) -> plot::Series<'_> {
        plot::Series {
            label: &r.name,
            windows: &r.windows,
            color,
        }
    }
    match plot::timeline(
        &png,
        WINDOW,
        &[
            series(&steady, grey),
            series(&restart, red),
            series(&updating, blue),
        ],
        &[
            series(&steady_r, grey),
            series(&restart_r, red),
            series(&updating_r, blue),
        ],
        &moments,
    ) {
        Ok(()) => println!("timeline: {}", png.display()),
        Err(e) => eprintln!("no timeline picture: {e}"),
    }
    std::fs::remove_dir_all(&root).unwrap();
}
