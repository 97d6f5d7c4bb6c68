//! A real etcd for tests, started on free ports in a directory of its
//! own (Debian: `apt-get install etcd-server`). Shared by the cluster's
//! and the machines' tests (`#[path]`): where etcd is missing,
//! [`Etcd::start`] prints why the test is skipped and gives `None`.

#![allow(dead_code)]

use evoflow_cluster::Cluster;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An etcd of its own, on free ports, in a directory of its own.
pub struct Etcd {
    pub child: Child,
    dir: std::path::PathBuf,
    pub endpoint: String,
    peer_url: String,
}

impl Etcd {
    pub fn start() -> Option<Etcd> {
        Etcd::start_on("127.0.0.1")
    }

    /// An etcd listening on `host` (an address of this machine).
    pub fn start_on(host: &str) -> Option<Etcd> {
        if Command::new("etcd").arg("--version").output().is_err() {
            println!("SKIPPED (not a silent pass): no `etcd` (apt-get install etcd-server)");
            return None;
        }
        let mut why = String::new();
        // A port found free can still be taken before etcd binds it: then
        // etcd exits, and it is started again on other ports.
        for _ in 0..3 {
            let (client, peer) = (free_port(host), free_port(host));
            let dir =
                std::env::temp_dir().join(format!("evoflow-etcd-{}-{client}", std::process::id()));
            let endpoint = format!("http://{host}:{client}");
            let peer_url = format!("http://{host}:{peer}");
            let child = Etcd::spawn(&dir, &endpoint, &peer_url);
            let mut etcd = Etcd {
                child,
                dir,
                endpoint,
                peer_url,
            };
            match etcd.wait_ready() {
                Ok(()) => return Some(etcd),
                Err(e) => why = e,
            }
        }
        panic!("etcd did not start: {why}");
    }

    fn spawn(dir: &std::path::Path, endpoint: &str, peer_url: &str) -> Child {
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        Command::new("etcd")
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--listen-client-urls",
                endpoint,
                "--advertise-client-urls",
                endpoint,
            ])
            .args([
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
            ])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Waits until etcd answers; if it exits first, why (the end of its
    /// log).
    fn wait_ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        while Cluster::connect(&self.endpoints(), "probe")
            .and_then(|c| c.machines())
            .is_err()
        {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return Err(format!("etcd exited ({status}): {tail:?}"));
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "etcd did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    pub fn stop(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts it again on the same data and ports.
    pub fn restart(&mut self) {
        self.child = Etcd::spawn(&self.dir, &self.endpoint, &self.peer_url);
        if let Err(e) = self.wait_ready() {
            panic!("etcd did not restart: {e}");
        }
    }

    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint.clone()]
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}

/// A port free now, below the kernel's ephemeral range (32768 and up by
/// default), where outgoing connections — other tests' — take their
/// ports: a port picked by binding port 0 comes from that range, and a
/// connection could take it before etcd binds it. Ports are handed out
/// in turn from a start that differs between processes, so two etcds of
/// one test binary never get the same one.
fn free_port(host: &str) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 15_000;
    const SPAN: u32 = 17_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .subsec_nanos();
    let start = std::process::id().wrapping_mul(7_919).wrapping_add(nanos) % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    loop {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind((host, port)).is_ok() {
            return port;
        }
    }
}
