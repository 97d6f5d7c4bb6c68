//! One graph over two machines (two threads of this process, each with its
//! own endpoint and etcd lease), against a real etcd.

#[path = "../../cluster/tests/support/etcd.rs"]
mod etcd;

use etcd::Etcd;
use evoflow::{component, Flow, GraphBuilder, Outputs};
use evoflow_machines::{MachineConfig, MachineError, Program};
use std::time::Duration;

const N: u64 = 100_000;

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
struct Check {
    seen: u64,
    out_of_order: u64,
}

#[component]
impl Check {
    #[input]
    fn inp(&mut self, (seq, text): (u64, String)) {
        if seq != self.seen || text != format!("packet {seq}") {
            self.out_of_order += 1;
        }
        self.seen += 1;
    }
}

/// `count` on `front`, `check` on `back`, one arc between them.
fn program(end: u64, capacity: usize) -> Program {
    Program::new(
        "two",
        &[("front", 1), ("back", 1)],
        move |machine, links| {
            let label = "count.out -> check.inp";
            let mut b = GraphBuilder::new("two", 1);
            if machine == "front" {
                let count = b.instance("count", 0, Count { next: 0, end });
                b.connect_to_machine(
                    count,
                    0,
                    label,
                    links.sender::<(u64, String)>(0, label, "back", capacity)?,
                )?;
            } else {
                let check = b.instance("check", 0, Check::default());
                b.connect_from_machine(
                    check,
                    0,
                    label,
                    links.receiver::<(u64, String)>(0, label, "front", capacity)?,
                )?;
            }
            Ok(b.build()?)
        },
    )
}

fn config(etcd: &Etcd) -> MachineConfig {
    MachineConfig::new(etcd.endpoints(), "127.0.0.1:0".parse().unwrap())
}

#[test]
fn packets_cross_machines_once_in_order_and_the_end_finishes_both() {
    let Some(etcd) = Etcd::start() else { return };
    let front = {
        let config = config(&etcd);
        std::thread::spawn(move || program(N, 16).run_on("front", &config)?.join())
    };
    let back = program(N, 16).run_on("back", &config(&etcd)).unwrap();
    let mut report = back.join().unwrap();
    let check = report.take::<Check>("check").unwrap();
    assert_eq!((check.seen, check.out_of_order), (N, 0));
    let mut report = front.join().unwrap().unwrap();
    assert_eq!(report.take::<Count>("count").unwrap().next, N);
}

#[test]
fn an_unknown_machine_is_refused_with_the_machines_there_are() {
    let config = MachineConfig::new(["http://127.0.0.1:1"], "127.0.0.1:0".parse().unwrap());
    let e = program(1, 1).run_on("middle", &config).err().unwrap();
    assert!(matches!(e, MachineError::UnknownMachine { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the graph has no machine `middle`; its machines are: front, back"
    );
}

#[test]
fn a_machine_that_never_joins_is_named() {
    let Some(etcd) = Etcd::start() else { return };
    let mut c = config(&etcd);
    c.join_timeout = Duration::from_millis(500);
    let e = program(1, 1).run_on("front", &c).err().unwrap();
    assert!(
        matches!(&e, MachineError::NotJoined { missing, .. } if missing == &["back"]),
        "{e}"
    );
}
