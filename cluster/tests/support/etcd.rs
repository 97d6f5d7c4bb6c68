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
        let port = || {
            TcpListener::bind((host, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (client, peer) = (port(), port());
        let dir =
            std::env::temp_dir().join(format!("evoflow-etcd-{}-{client}", std::process::id()));
        let endpoint = format!("http://{host}:{client}");
        let peer_url = format!("http://{host}:{peer}");
        let child = Etcd::spawn(&dir, &endpoint, &peer_url);
        let etcd = Etcd {
            child,
            dir,
            endpoint,
            peer_url,
        };
        etcd.wait_ready();
        Some(etcd)
    }

    fn spawn(dir: &std::path::Path, endpoint: &str, peer_url: &str) -> Child {
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
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn wait_ready(&self) {
        let t = Instant::now();
        while Cluster::connect(&self.endpoints(), "probe")
            .and_then(|c| c.machines())
            .is_err()
        {
            assert!(t.elapsed() < Duration::from_secs(20), "etcd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts it again on the same data and ports.
    pub fn restart(&mut self) {
        self.child = Etcd::spawn(&self.dir, &self.endpoint, &self.peer_url);
        self.wait_ready();
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
    }
}
