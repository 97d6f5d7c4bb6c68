//! Rebuild and signal across machines, for real: builds the
//! across-machines example (host binary and component library) in a
//! scratch copy of its workspace, starts a real etcd and one host process
//! per machine (`front` makes numbered packets, `back` sums and prints
//! them; the arc between them is a gRPC stream), then rebuilds the library
//! with new versions of a component on each machine and sends SIGHUP to
//! `front` only. Checks that both machines switch in one update — every
//! packet made by the new `numbers` is handled by the new `tally`, none by
//! the old — with state migrated, every packet once and in order; and that
//! a build that changes the type crossing machines is refused on every
//! machine while the old code keeps running.

mod common;
#[path = "../cluster/tests/support/etcd.rs"]
mod etcd;

use common::host::{text, Host};
use common::scratch::{Workspace, MACHINES};
use etcd::Etcd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// One machine's host process and its control socket.
struct Machine {
    host: Host,
    socket: PathBuf,
}

impl Machine {
    fn start(ws: &Workspace, name: &str, etcd: &Etcd) -> Machine {
        let socket = ws.dir.join(format!("{name}.sock"));
        let mut cmd = Command::new(ws.host());
        cmd.args([
            "run",
            "--machine",
            name,
            "--etcd",
            &etcd.endpoint,
            "--socket",
        ])
        .arg(&socket)
        .arg("--library")
        .arg(ws.library());
        let host = Host::spawn(cmd, ws.dir.join(format!("{name}.log")));
        Machine { host, socket }
    }

    fn cli(&self, ws: &Workspace, args: &[&str]) -> Output {
        Command::new(ws.host())
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .expect("the host binary runs")
    }
}

/// One line of `print`: `seq made_by=M tally=T sum=S [count=C]`.
#[derive(Debug)]
struct Seen {
    seq: u64,
    made_by: u32,
    tally: u32,
    sum: u64,
    count: Option<u64>,
}

fn seen(line: &str) -> Seen {
    let mut f = line.split(' ');
    let mut next = |key: &str| -> Option<u64> {
        let field = f.next()?;
        let value = if key.is_empty() {
            field
        } else {
            field.strip_prefix(key)?
        };
        value.parse().ok()
    };
    let parsed = (|| {
        Some(Seen {
            seq: next("")?,
            made_by: next("made_by=")? as u32,
            tally: next("tally=")? as u32,
            sum: next("sum=")?,
            count: next("count="),
        })
    })();
    parsed.unwrap_or_else(|| panic!("an unexpected line: {line:?}"))
}

fn read_until(m: &Machine, all: &mut Vec<Seen>, until: impl Fn(&Seen) -> bool) {
    loop {
        let s = seen(&m.host.next_line());
        let done = until(&s);
        all.push(s);
        if done {
            return;
        }
    }
}

#[test]
fn rebuild_and_signal_updates_every_machine_in_one_update_and_refuses_what_cannot_cross() {
    let Some(etcd) = Etcd::start() else { return };
    let ws = Workspace::create("reload-machines", &MACHINES, false);
    ws.build(true);
    let back = Machine::start(&ws, "back", &etcd);
    let front = Machine::start(&ws, "front", &etcd);
    let mut all = Vec::new();
    read_until(&back, &mut all, |s| s.seq >= 300);

    // New versions on both machines, state migrated; SIGHUP to `front`
    // alone, while packets keep crossing.
    ws.use_fixture("numbers_v2.rs", "components/src/numbers.rs");
    ws.use_fixture("tally_v2.rs", "components/src/tally.rs");
    ws.build(false);
    front.host.signal("-HUP");
    read_until(&back, &mut all, |s| s.tally == 2);
    let switched = all.last().unwrap().seq;
    read_until(&back, &mut all, |s| s.seq >= switched + 300);
    let status = text(&back.cli(&ws, &["status"]));
    assert!(
        status.contains("numbers          Numbers v2")
            && status.contains("tally            Tally v2"),
        "{status}"
    );
    // The same build again, asked on `back`, whose `tally` it replaced (its
    // state type changed): nothing to do, and no refusal (a review found
    // it refused: the replacement was not yet recorded as this build's).
    let again = back.cli(&ws, &["reload"]);
    assert!(
        again.status.success() && text(&again).contains("nothing changed"),
        "{}",
        text(&again)
    );

    // A build whose packet type crossing machines changed: refused on
    // every machine, asked on `back` (where `numbers` does not run).
    ws.use_fixture("types_v2.rs", "components/src/types.rs");
    ws.edit(
        "components/src/numbers.rs",
        "made_by: 2,",
        "made_by: 2,\n            note: String::new(),",
    );
    ws.edit("components/src/numbers.rs", "version = 2", "version = 3");
    ws.edit("components/src/numbers.rs", "from = 1", "from = 2");
    ws.build(false);
    let refused = back.cli(&ws, &["reload"]);
    let why = text(&refused);
    assert!(!refused.status.success(), "{why}");
    assert!(
        why.contains("every machine kept its old versions")
            && why.contains("the definition of `Number`, which arc `numbers.out -> tally.inp` carries between machines, changed"),
        "{why}"
    );
    let last = all.last().unwrap().seq;
    read_until(&back, &mut all, |s| s.seq >= last + 300);
    let status = text(&front.cli(&ws, &["status"]));
    assert!(status.contains("Numbers v2"), "{status}");

    // A build whose constructor panics when a part is built again (as a
    // reload does): refused, with the panic; both machines keep running.
    ws.restore("components/src/types.rs");
    ws.use_fixture("numbers_v2.rs", "components/src/numbers.rs");
    ws.edit("components/src/numbers.rs", "version = 2", "version = 3");
    ws.edit("components/src/numbers.rs", "from = 1", "from = 2");
    ws.edit("components/src/numbers.rs", "made_by: 2", "made_by: 3");
    ws.edit(
        "components/src/lib.rs",
        "tally: tally::Tally;",
        "tally: tally::Tally = {\n            assert!(evoflow::reload::first_load(), \"tally is built only once\");\n            tally::Tally::default()\n        };",
    );
    ws.build(false);
    let refused = front.cli(&ws, &["reload"]);
    let why = text(&refused);
    assert!(!refused.status.success(), "{why}");
    assert!(
        why.contains("the new build's part on machine `back` cannot be built: building this machine's part panicked: tally is built only once"),
        "{why}"
    );
    let last = all.last().unwrap().seq;
    read_until(&back, &mut all, |s| s.seq >= last + 300);

    // Two reloads of one build asked at once, on both machines: one
    // applies it, the other finds nothing left to do; neither fails.
    ws.restore("components/src/lib.rs");
    ws.build(false);
    front.host.signal("-HUP");
    back.host.signal("-HUP");
    read_until(&back, &mut all, |s| s.made_by == 3);
    let switched = all.last().unwrap().seq;
    read_until(&back, &mut all, |s| s.seq >= switched + 300);
    for m in [&front, &back] {
        let status = text(&m.cli(&ws, &["status"]));
        assert!(status.contains("Numbers v3"), "{status}");
    }

    // SIGTERM on one machine stops the graph on both, drained.
    front.host.signal("-TERM");
    let mut back = back;
    let mut front = front;
    for (name, m) in [("front", &mut front), ("back", &mut back)] {
        let status = m.host.child.wait().unwrap();
        assert!(
            status.success(),
            "{name} exited with {status}; its log:\n{}",
            std::fs::read_to_string(&m.host.log).unwrap_or_default()
        );
    }
    while let Ok(line) = back.host.lines.recv_timeout(Duration::from_secs(1)) {
        all.push(seen(&line));
    }

    // Every packet once, in order; each handled by the tally of the build
    // that made it (both machines switched at the same marker), versions
    // never going back; the sums and the migrated count right.
    let mut sum = 0;
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.seq, i as u64, "packet {i} is {s:?}");
        assert_eq!(s.made_by == 1, s.tally == 1, "a mix of versions: {s:?}");
        if i > 0 {
            assert!(
                s.made_by >= all[i - 1].made_by,
                "{:?} then {s:?}",
                all[i - 1]
            );
        }
        sum += s.seq;
        assert_eq!(s.sum, sum, "{s:?}");
        if s.tally == 2 {
            assert_eq!(s.count, Some(s.seq + 1), "{s:?}");
        }
    }
    let v2 = all.iter().filter(|s| s.tally == 2).count();
    assert!(v2 >= 900, "only {v2} packets after the first update");
    // Each machine logged the one refusal asked of it, and its reloads.
    for (m, what, reloads) in [(&front, "front", 2), (&back, "back", 1)] {
        let log = std::fs::read_to_string(&m.host.log).unwrap();
        assert_eq!(log.matches("WARN").count(), 1, "{what}:\n{log}");
        assert_eq!(
            log.matches("on every machine in").count(),
            reloads,
            "{what}:\n{log}"
        );
    }
}
