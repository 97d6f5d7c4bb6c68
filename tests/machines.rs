//! One `graph!` over two machines, against a real etcd: each machine is a
//! thread of this test with its own endpoint and lease, or — to kill or
//! freeze one — a process of its own (this test binary, run again).

#[path = "../cluster/tests/support/etcd.rs"]
mod etcd;

use etcd::Etcd;
use evoflow::{
    component, graph, Flow, MachineConfig, MachineError, Outputs, Program, Refusal, RunError,
    Update, UpdateError,
};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of a machine run as a child process: the etcd
/// endpoint.
const FRONT: &str = "EVOFLOW_MACHINES_TEST_FRONT";

struct Count {
    next: u64,
    end: u64,
}

#[component(outputs(out: (u64, String)))]
impl Count {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.end {
            return Flow::Done;
        }
        out.out((self.next, format!("packet {}", self.next)));
        self.next += 1;
        Flow::Continue
    }
}

#[derive(Default)]
struct Double;

#[component(outputs(out: (u64, String)))]
impl Double {
    #[input]
    fn inp(&mut self, (seq, text): (u64, String), out: &mut Outputs<Self>) {
        out.out((seq * 2, text));
    }
}

/// Checks that packet `seq` arrives as the `seq`-th (doubled), once.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Check {
    seen: u64,
    wrong: u64,
}

#[component(state)]
impl Check {
    #[input]
    fn inp(&mut self, (seq, text): (u64, String)) {
        if seq != 2 * self.seen || text != format!("packet {}", self.seen) {
            self.wrong += 1;
        }
        self.seen += 1;
    }
}

/// `count` on front; `double` on back; `check`, unplaced, goes with its
/// neighbour to back. Small capacities: backpressure across machines.
fn program(end: u64) -> Program {
    graph! {
        name = "machines-test";
        machines = { front: 1, back: 2 };
        capacity = 8;
        #[machine(front)]
        count: Count = Count { next: 0, end };
        #[machine(back)]
        double: Double;
        check: Check;
        count.out -> double.inp;
        double.out -> check.inp;
    }
}

fn config(etcd: &Etcd) -> MachineConfig {
    MachineConfig::new(etcd.endpoints(), "127.0.0.1:0".parse().unwrap())
}

#[test]
fn a_graph_over_two_machines_delivers_every_packet_once_in_order() {
    let Some(etcd) = Etcd::start() else { return };
    const N: u64 = 50_000;
    let front = {
        let config = config(&etcd);
        std::thread::spawn(move || program(N).run_on("front", &config)?.join())
    };
    let back = program(N).run_on("back", &config(&etcd)).unwrap();
    let schedule = back.running().schedule();
    let names: Vec<&str> = schedule
        .sections
        .iter()
        .flatten()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names.len(), 2, "back runs double and check: {names:?}");
    assert!(
        names.contains(&"check") && names.contains(&"double"),
        "{names:?}"
    );
    let mut report = back.join().unwrap();
    let check = report.take::<Check>("check").unwrap();
    assert_eq!((check.seen, check.wrong), (N, 0));
    let mut report = front.join().unwrap().unwrap();
    assert_eq!(report.take::<Count>("count").unwrap().next, N);
}

#[test]
fn an_update_may_not_change_an_instance_with_an_arc_to_another_machine() {
    let Some(etcd) = Etcd::start() else { return };
    let front = {
        let config = config(&etcd);
        std::thread::spawn(move || program(u64::MAX).run_on("front", &config)?.join())
    };
    let back = program(u64::MAX).run_on("back", &config(&etcd)).unwrap();
    let refused = back
        .running()
        .update(Update::new().replace_with("double", Double))
        .unwrap_err();
    assert!(
        matches!(&refused, UpdateError::Refused(Refusal::AcrossMachines { instance }) if instance == "double"),
        "{refused}"
    );
    // `check` has arcs on this machine only: it may be replaced (its
    // state carried over) while packets flow.
    std::thread::sleep(Duration::from_millis(200));
    back.running()
        .update(Update::new().replace::<Check>("check"))
        .unwrap();
    // A stop on one machine stops the graph on both: front's source ends,
    // and the graph drains across machines.
    back.stop().unwrap();
    let mut report = back.join().unwrap();
    let check = report.take::<Check>("check").unwrap();
    let mut sent = front.join().unwrap().unwrap();
    let sent = sent.take::<Count>("count").unwrap().next;
    assert_eq!(
        (check.seen, check.wrong),
        (sent, 0),
        "every packet sent arrived"
    );
}

/// Run as the front machine's process (only when a test asks for it).
#[test]
fn front_machine() {
    let Some(endpoint) = std::env::var_os(FRONT) else {
        return;
    };
    let config = MachineConfig::new(
        [endpoint.into_string().unwrap()],
        "127.0.0.1:0".parse().unwrap(),
    );
    let run = program(u64::MAX).run_on("front", &config).unwrap();
    println!("running");
    let _ = run.join();
}

/// Starts front as a process, runs back here until packets flow, applies
/// `fault` to front, and returns how long back took to halt, and why.
fn fault_front(fault: libc::c_int) -> Option<(Duration, String)> {
    let etcd = Etcd::start()?;
    let mut front = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "front_machine",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FRONT, &etcd.endpoint)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let back = program(u64::MAX).run_on("back", &config(&etcd)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!back.running().is_finished());
    // SAFETY: signals a child process this test started and still owns.
    assert_eq!(unsafe { libc::kill(front.id() as libc::pid_t, fault) }, 0);
    let start = Instant::now();
    let halted = back.join().err().expect("back halted");
    let took = start.elapsed();
    let _ = front.kill();
    let _ = front.wait();
    let MachineError::Run(RunError::Halted(why)) = halted else {
        panic!("not a halt: {halted}");
    };
    Some((took, why))
}

#[test]
fn a_killed_machine_halts_the_other_at_once_naming_it() {
    let Some((took, why)) = fault_front(libc::SIGKILL) else {
        return;
    };
    assert!(why.contains("machine `front`"), "{why}");
    assert!(took < Duration::from_secs(1), "{took:?}: {why}");
}

#[test]
fn a_frozen_machine_halts_the_other_within_seconds_naming_it() {
    let Some((took, why)) = fault_front(libc::SIGSTOP) else {
        return;
    };
    assert!(why.contains("machine `front`"), "{why}");
    assert!(took < Duration::from_secs(4), "{took:?}: {why}");
}

#[test]
fn etcd_down_for_longer_than_a_lease_does_not_stop_the_data() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let front = {
        let config = config(&etcd);
        std::thread::spawn(move || program(u64::MAX).run_on("front", &config)?.join())
    };
    let back = program(u64::MAX).run_on("back", &config(&etcd)).unwrap();
    etcd.stop();
    std::thread::sleep(evoflow_cluster::LEASE * 2);
    assert!(!back.running().is_finished(), "halted while etcd was down");
    etcd.restart();
    std::thread::sleep(evoflow_cluster::LEASE * 2);
    assert!(!back.running().is_finished(), "halted after etcd came back");
    back.stop().unwrap();
    let mut report = back.join().unwrap();
    let check = report.take::<Check>("check").unwrap();
    let sent = front
        .join()
        .unwrap()
        .unwrap()
        .take::<Count>("count")
        .unwrap()
        .next;
    assert_eq!((check.seen, check.wrong), (sent, 0));
    assert!(sent > 0);
}

/// A graph that finished may run again at once under the same machine
/// names: leaving revokes the lease before `join` returns.
#[test]
fn a_finished_graph_runs_again_at_once() {
    let Some(etcd) = Etcd::start() else { return };
    for round in 0..3 {
        let front = {
            let config = config(&etcd);
            std::thread::spawn(move || program(1_000).run_on("front", &config)?.join())
        };
        let back = program(1_000).run_on("back", &config(&etcd));
        let back = back.unwrap_or_else(|e| panic!("round {round}: {e}"));
        let check = back.join().unwrap().take::<Check>("check").unwrap();
        assert_eq!((check.seen, check.wrong), (1_000, 0));
        front.join().unwrap().unwrap();
    }
}
