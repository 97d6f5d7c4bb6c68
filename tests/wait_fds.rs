//! A source that first waits for a descriptor when the process has no
//! descriptor left still sleeps until it is readable: what a worker needs
//! to wait for readiness is set up when the graph starts, not at the
//! first wait. In a process of its own: it exhausts the process's
//! descriptors.

mod common;

use common::Exhausted;
use evoflow::{component, graph, Flow, Outputs};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Waits only for time until `go`; then emits each byte read from
/// `socket`, counting its calls.
struct Late {
    socket: UnixStream,
    go: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

#[component(outputs(out: u8))]
impl Late {
    #[source]
    fn read(&mut self, out: &mut Outputs<Self>) -> Flow {
        if !self.go.load(Ordering::Acquire) {
            return Flow::after(Duration::from_millis(1));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 1];
        match self.socket.read(&mut b) {
            Ok(0) => Flow::Done,
            Ok(_) => {
                out.out(b[0]);
                Flow::Continue
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Flow::readable(&self.socket),
            Err(e) => panic!("{e}"),
        }
    }
}

#[derive(Default)]
struct Keep {
    got: Vec<u8>,
}

#[component]
impl Keep {
    #[input]
    fn inp(&mut self, x: u8) {
        self.got.push(x);
    }
}

#[test]
fn a_first_wait_with_no_descriptor_left_still_sleeps_until_readable() {
    let (mut tx, rx) = UnixStream::pair().unwrap();
    rx.set_nonblocking(true).unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let running = graph! {
        name = "late";
        src: Late = Late { socket: rx, go: go.clone(), calls: calls.clone() };
        keep: Keep;
        src.out -> keep.inp;
    }
    .run()
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let exhausted = Exhausted::now();
    go.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_millis(50));
    let before = calls.load(Ordering::Relaxed);
    for i in 0..5u8 {
        tx.write_all(&[i]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let called = calls.load(Ordering::Relaxed) - before;
    exhausted.release();
    drop(tx);
    let mut report = running.join().unwrap();
    assert_eq!(
        report.take::<Keep>("keep").unwrap().got,
        vec![0, 1, 2, 3, 4]
    );
    // Woken five times: each wake-up calls it a few times (the byte, then
    // nothing more while the worker spins briefly before it parks: about
    // 15 calls here). Polled instead, it would be called every 50 µs to
    // 1 ms: 500 to 10,000 times in these 0.5 s.
    assert!(
        called <= 250,
        "the waiting source was called {called} times in 0.5 s"
    );
}
