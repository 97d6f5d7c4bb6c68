//! Reload time, from the signal to the completed update, compilation
//! excluded: the reload example (release build) runs under a steady stream
//! of words; its library file is overwritten by a build whose `tally` has a
//! new version with a state migration, and the host gets SIGHUP. Measured
//! from outside (signal sent to the reload's log line seen, polled every
//! 0.1 ms) and by the host itself (request to completed update, split
//! into loading the library and the update), over fresh processes. Also
//! the `reload` control command's round trip, and the memory a reload
//! keeps mapped.
//!
//! Then the flagship: the web server (release, 1 worker) under keep-alive
//! load from the same 2 cores, updated from a rebuild (`compose` v2 adds a
//! header) by SIGHUP: requests per 100 ms window before, around and after
//! the reload, and failed requests, side by side with identical runs
//! without the reload. One client thread: with more, the server and the
//! clients oversubscribe the 2 cores and throughput jumps between two
//! levels at random, reload or not.
//!
//! `cargo bench --bench reload`

#[path = "../tests/common/keepalive.rs"]
mod keepalive;
#[path = "../tests/common/scratch.rs"]
#[allow(dead_code)]
mod scratch;

use keepalive::Connection;
use scratch::{Workspace, WEBSERVER, WORDCOUNT};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 20;

/// A running host, fed words until dropped.
struct Host {
    child: Child,
    log: std::path::PathBuf,
    feeding: Arc<AtomicBool>,
}

impl Host {
    fn start(ws: &Workspace, library: &Path) -> Host {
        let log = ws.dir.join("bench-host.log");
        let mut child = Command::new(ws.host())
            .args(["run", "--library"])
            .arg(library)
            .arg("--socket")
            .arg(ws.socket())
            .env("RELOAD_EXAMPLE_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        // Drain the answers so the program never blocks on its stdout.
        std::thread::spawn(move || for _ in stdout.lines() {});
        let feeding = Arc::new(AtomicBool::new(true));
        let on = feeding.clone();
        let mut stream = TcpStream::connect(addr).unwrap();
        std::thread::spawn(move || {
            let mut seq = 0u64;
            while on.load(Ordering::Relaxed) {
                seq += 1;
                if writeln!(stream, "{seq} word{}", seq % 100).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        Host {
            child,
            log,
            feeding,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    }

    fn stop(mut self) {
        self.feeding.store(false, Ordering::Relaxed);
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Only does something if the benchmark failed before `stop`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pulls `<what> <duration>` out of a reload report line, in ms.
fn ms_after(line: &str, what: &str) -> f64 {
    let rest = &line[line.find(what).unwrap() + what.len()..];
    let d = rest.split([' ', ',', ')', ';']).next().unwrap();
    let (num, unit) = d.split_at(d.find(|c: char| c.is_alphabetic() || c == 'µ').unwrap());
    let v: f64 = num.parse().unwrap();
    v * match unit {
        "s" => 1e3,
        "ms" => 1.0,
        "µs" => 1e-3,
        "ns" => 1e-6,
        _ => panic!("unit {unit}"),
    }
}

fn quantiles(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name:<44} p50 {:>7.2} ms   max {:>7.2} ms",
        v[v.len() / 2],
        v[v.len() - 1]
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    wordcount();
    webserver();
}

fn wordcount() {
    let ws = Workspace::create("reload-bench", &WORDCOUNT, true);
    ws.build(true);
    let v1 = ws.dir.join("v1.so");
    std::fs::copy(ws.library(), &v1).unwrap();
    ws.use_fixture("tally_v2.rs", "components/src/tally.rs");
    ws.build(false);
    let v2 = ws.dir.join("v2.so");
    std::fs::copy(ws.library(), &v2).unwrap();
    let live = ws.dir.join("live.so");
    let size = std::fs::metadata(&v2).unwrap().len();

    let (mut external, mut total, mut load, mut update, mut rss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        std::fs::copy(&v1, &live).unwrap();
        let host = Host::start(&ws, &live);
        std::thread::sleep(Duration::from_millis(100));
        // The build overwrites the library the program started from.
        std::fs::copy(&v2, &live).unwrap();
        let before = host.rss_kib();
        let pid = host.child.id() as libc::pid_t;
        let sent = Instant::now();
        // SAFETY: kill has no memory preconditions; `pid` is our child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        let line = loop {
            if let Some(l) = host.log().lines().find(|l| l.contains("reloaded")) {
                break l.to_owned();
            }
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "no reload: {}",
                host.log()
            );
            std::thread::sleep(Duration::from_micros(100));
        };
        external.push(sent.elapsed().as_secs_f64() * 1e3);
        assert!(line.contains("Tally v1 -> Tally v2"), "{line}");
        total.push(ms_after(&line, " in "));
        load.push(ms_after(&line, "(load "));
        update.push(ms_after(&line, " applied in "));
        rss.push((host.rss_kib() as f64 - before as f64) / 1024.0);
        host.stop();
    }
    println!(
        "reload of the example library (release, {:.1} MiB), {RUNS} fresh processes, under load:",
        size as f64 / (1 << 20) as f64
    );
    quantiles("SIGHUP -> update complete (outside view)", external);
    quantiles("request -> update complete (host's view)", total);
    quantiles("  of which: copy, map, check, build graph", load);
    quantiles("  of which: the live update", update);
    rss.sort_by(f64::total_cmp);
    println!(
        "resident memory added by one reload: p50 {:.1} MiB (the library stays mapped: {:.1} MiB of address space)",
        rss[rss.len() / 2],
        size as f64 / (1 << 20) as f64
    );

    // The control command: a CLI process, the socket, the same reload.
    let mut cli = Vec::new();
    for _ in 0..RUNS.min(10) {
        std::fs::copy(&v1, &live).unwrap();
        let host = Host::start(&ws, &live);
        std::thread::sleep(Duration::from_millis(100));
        std::fs::copy(&v2, &live).unwrap();
        let start = Instant::now();
        let out = ws.cli(&["reload"]);
        cli.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        host.stop();
    }
    quantiles("`reload` command round trip (incl. CLI start)", cli);
}

/// Windows of the web server benchmark.
const WINDOW: Duration = Duration::from_millis(100);
const WINDOWS: usize = 40;
const RELOAD_AT: usize = 20;
const WEB_RUNS: usize = 9;
const WEB_CLIENTS: usize = 1;

/// One web server run: requests per window, failed requests, the reload
/// as the host logged it (none in a baseline run).
struct WebRun {
    windows: Vec<f64>,
    failed: u64,
    reload: Option<String>,
}

fn webserver() {
    let ws = Workspace::create("reload-bench-webserver", &WEBSERVER, true);
    ws.build(true);
    let (v1, v2, live) = (
        ws.dir.join("v1.so"),
        ws.dir.join("v2.so"),
        ws.dir.join("live.so"),
    );
    std::fs::copy(ws.library(), &v1).unwrap();
    ws.edit(
        "server/compose.rs",
        "#[component(outputs(out: Response))]\nimpl Compose {",
        "#[component(version = 2, outputs(out: Response))]\nimpl Compose {",
    );
    ws.edit(
        "server/compose.rs",
        "out.out(response(l, \"\"));",
        "out.out(response(l, \"X-Reloaded: yes\\r\\n\"));",
    );
    ws.build(false);
    std::fs::copy(ws.library(), &v2).unwrap();

    // Runs with a reload alternate with baseline runs that are identical
    // but for the signal.
    let (mut runs, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..WEB_RUNS {
        for reload in [true, false] {
            std::fs::copy(&v1, &live).unwrap();
            let run = web_run(&ws, &live, &v2, reload);
            if reload { &mut runs } else { &mut baseline }.push(run);
        }
    }
    let median = |runs: &[WebRun], f: &dyn Fn(&WebRun) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let steady = |r: &WebRun| r.windows[..RELOAD_AT].iter().sum::<f64>() / RELOAD_AT as f64;
    let lowest = |w: &[f64]| w.iter().cloned().fold(f64::MAX, f64::min);
    let around = |r: &WebRun| lowest(&r.windows[RELOAD_AT..RELOAD_AT + 3]) / steady(r);
    let after = |r: &WebRun| {
        let w = &r.windows[RELOAD_AT + 3..];
        w.iter().sum::<f64>() / w.len() as f64 / steady(r)
    };
    println!(
        "web server (release, 1 worker), {WEB_CLIENTS} keep-alive client on the same 2 cores, {WEB_RUNS} runs \
         with a SIGHUP reload of compose v1 -> v2 at 2 s, {WEB_RUNS} identical runs without \
         (median [min, max]):"
    );
    println!(
        "  steady before 2 s: {:.0} req/s with, {:.0} req/s without",
        median(&runs, &steady).0,
        median(&baseline, &steady).0
    );
    for (what, f) in [
        (
            "lowest 100 ms window in 2.0-2.3 s / steady",
            &around as &dyn Fn(&WebRun) -> f64,
        ),
        ("mean after 2.3 s / steady", &after),
    ] {
        let (w, b) = (median(&runs, f), median(&baseline, f));
        println!(
            "  {what:<44} with {:.2}x [{:.2}, {:.2}]   without {:.2}x [{:.2}, {:.2}]",
            w.0, w.1, w.2, b.0, b.1, b.2
        );
    }
    let took = median(&runs, &|r| ms_after(r.reload.as_deref().unwrap(), " in "));
    println!(
        "  failed requests: {} with, {} without; reload, request to update done: {:.2} ms [{:.2}, {:.2}]",
        runs.iter().map(|r| r.failed).sum::<u64>(),
        baseline.iter().map(|r| r.failed).sum::<u64>(),
        took.0,
        took.1,
        took.2
    );
}

/// Serves `live` (v1) under load, overwrites it with `v2` and, if
/// `signal`, sends SIGHUP after `RELOAD_AT` windows.
fn web_run(ws: &Workspace, live: &Path, v2: &Path, signal: bool) -> WebRun {
    let log = ws.dir.join("bench-web.log");
    let mut child = Command::new(ws.host())
        .args(["run", "--library"])
        .arg(live)
        .arg("--socket")
        .arg(ws.socket())
        .env("EVOFLOW_WEB_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    std::fs::copy(v2, live).unwrap();
    let (stop, done, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..WEB_CLIENTS)
        .map(|_| {
            let (addr, stop, done, failed) =
                (addr.clone(), stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut conn) = Connection::open(&addr, Duration::from_secs(10)) else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    while !stop.load(Ordering::Relaxed) {
                        match conn.get() {
                            Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        };
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut windows = Vec::with_capacity(WINDOWS);
    let mut last = done.load(Ordering::Relaxed);
    let start = Instant::now();
    for w in 1..=WINDOWS {
        if signal && w == RELOAD_AT + 1 {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
        }
        std::thread::sleep((start + WINDOW * w as u32).saturating_duration_since(Instant::now()));
        let now = done.load(Ordering::Relaxed);
        windows.push((now - last) as f64 / WINDOW.as_secs_f64());
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    clients.into_iter().for_each(|c| c.join().unwrap());
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    let reload = logged
        .lines()
        .find(|l| l.contains("reloaded"))
        .map(str::to_owned);
    assert_eq!(reload.is_some(), signal, "{logged}");
    assert!(
        reload
            .iter()
            .all(|r| r.contains("Compose v1 -> Compose v2")),
        "{logged}"
    );
    WebRun {
        windows,
        failed: failed.load(Ordering::Relaxed),
        reload,
    }
}
