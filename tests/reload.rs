//! End to end, for real: builds the reload example (host binary and
//! component library) in a scratch copy of its workspace, runs it, feeds it
//! numbered words over TCP without pause, edits a component and then the
//! graph, rebuilds with cargo and reloads with SIGHUP and with the CLI. Checks the
//! new behaviour, the migrated state, that every word is answered exactly
//! once and in order across the update, and that incompatible builds are
//! refused with the cause while the old code keeps serving.
//!
//! The scratch workspace and its target directory persist under `target/`,
//! so only the first run compiles the dependencies.

mod common;

use common::host::{text, Host as Program};
use common::scratch::{Workspace, WORDCOUNT};
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORDS: [&str; 3] = ["apple", "pear", "fig"];
const WAIT: Duration = Duration::from_secs(60);

/// Starts the example's host, answering on a free port.
fn start(ws: &Workspace) -> Program {
    let mut cmd = Command::new(ws.host());
    cmd.args(["run", "--socket"])
        .arg(ws.socket())
        .env("RELOAD_EXAMPLE_ADDR", "127.0.0.1:0");
    Program::spawn(cmd, ws.dir.join("host.log"))
}

/// Sends `<seq> <word>` lines without pause until stopped; returns the
/// last sequence number sent.
fn feed(addr: &str, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> std::thread::JoinHandle<u64> {
    let mut stream = TcpStream::connect(addr).expect("the example accepts connections");
    std::thread::spawn(move || {
        let mut seq = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut batch = String::new();
            for _ in 0..20 {
                seq += 1;
                batch.push_str(&format!("{seq} {}\n", WORDS[(seq % 3) as usize]));
            }
            stream.write_all(batch.as_bytes()).unwrap();
            sent.store(seq, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
        }
        seq
    })
}

/// One output line: `seq word count` (v1) or `seq word count of total`
/// (v2), then ` (n letters)` (v3), followed by ` *` once the `mark` stage
/// is in the graph.
#[derive(Debug)]
struct Answer {
    seq: u64,
    word: String,
    count: u64,
    total: Option<u64>,
    letters: Option<usize>,
    marked: bool,
}

fn answer(line: &str) -> Answer {
    let (line, marked) = match line.strip_suffix(" *") {
        Some(l) => (l, true),
        None => (line, false),
    };
    let (line, letters) = match line.strip_suffix(" letters)") {
        Some(l) => {
            let (l, n) = l.rsplit_once(" (").expect("`(n letters)`");
            (l, Some(n.parse().unwrap()))
        }
        None => (line, None),
    };
    let f: Vec<&str> = line.split(' ').collect();
    let total = match f.len() {
        3 => None,
        5 if f[3] == "of" => Some(f[4].parse().unwrap()),
        _ => panic!("unexpected output line {line:?}"),
    };
    Answer {
        seq: f[0].parse().unwrap(),
        word: f[1].to_owned(),
        count: f[2].parse().unwrap(),
        total,
        letters,
        marked,
    }
}

/// Reads answers until `until` holds for one; checks each on the way.
fn read_until(p: &Program, seen: &mut Vec<Answer>, until: impl Fn(&Answer) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "condition not reached in time");
        let a = answer(&p.next_line());
        let done = until(&a);
        seen.push(a);
        if done {
            return;
        }
    }
}

/// The C library this test runs with: a real shared library that is not
/// an evoflow build.
fn libc_path() -> String {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .expect("the test process maps libc")
        .to_owned()
}

#[test]
fn rebuild_and_signal_updates_the_running_program_and_refuses_incompatible_builds() {
    let ws = Workspace::create("reload-e2e", &WORDCOUNT, false);
    ws.build(true);
    let mut program = start(&ws);
    let first = program.next_line();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("expected the address, got {first:?}"))
        .to_owned();
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let feeder = feed(&addr, stop.clone(), sent.clone());
    let mut seen = Vec::new();
    read_until(&program, &mut seen, |a| a.seq >= 300);
    // A malformed line from another client: `parse` drops it with a
    // `tracing` warning, logged inside the library, which must reach the
    // host's log (checked at the end).
    let mut malformed = TcpStream::connect(&addr).unwrap();
    malformed.write_all(b"not-a-number\n").unwrap();

    // A new version of `tally` with a state migration, loaded on SIGHUP
    // while words keep arriving.
    ws.use_fixture("tally_v2.rs", "components/src/tally.rs");
    ws.build(false);
    program.signal("-HUP");
    read_until(&program, &mut seen, |a| a.total.is_some());
    let switched = seen.last().unwrap().seq;
    read_until(&program, &mut seen, |a| a.seq >= switched + 300);
    // Reloading the same build again (the README's HUP, then `reload`) is
    // recognised without copying or mapping it.
    let mapped = |status: &str| {
        status
            .split_once(" mapped")
            .unwrap()
            .0
            .rsplit_once(", ")
            .unwrap()
            .1
            .to_owned()
    };
    let before = mapped(&text(&ws.cli(&["status"])));
    let again = ws.cli(&["reload"]);
    assert!(
        text(&again)
            .contains("nothing changed: it is the build already running (not loaded again)"),
        "{}",
        text(&again)
    );
    assert_eq!(mapped(&text(&ws.cli(&["status"]))), before);
    // A client that connects and says nothing delays nobody: the control
    // socket serves each connection on its own (its read timeout is 5 s).
    let silent = std::os::unix::net::UnixStream::connect(ws.socket()).unwrap();
    let asked = Instant::now();
    let status = ws.cli(&["status"]);
    let waited = asked.elapsed();
    drop(silent);
    assert!(
        waited < Duration::from_secs(2),
        "status waited {waited:?} behind a silent client"
    );
    assert!(
        text(&status).contains("tally: Tally v2"),
        "{}",
        text(&status)
    );
    // The copies a reload maps are removed once mapped (the mapping stays):
    // a debug library is tens of MiB, and `/tmp` may be memory.
    // It is a private directory of a random name (no other user can take
    // its place before the program starts).
    let status = text(&status);
    let scratch = PathBuf::from(
        status
            .split_once("copies made in `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .expect("status names the scratch directory")
            .0,
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&scratch).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap_or_else(|e| panic!("{}: {e}", scratch.display()))
        .collect();
    assert!(
        left.is_empty(),
        "copies left in {}: {left:?}",
        scratch.display()
    );

    // A graph change: a new stage between `tally` and `print`, through the
    // control command.
    ws.use_fixture("mark.rs", "components/src/mark.rs");
    ws.use_fixture("lib_marked.rs", "components/src/lib.rs");
    ws.build(false);
    let inserted = ws.cli(&["reload"]);
    assert!(inserted.status.success(), "{}", text(&inserted));
    let report = text(&inserted);
    assert!(
        report.contains("inserted mark")
            && report.contains("connected mark.out -> print.inp, tally.out -> mark.inp")
            && report.contains("disconnected tally.out -> print.inp"),
        "{report}"
    );
    read_until(&program, &mut seen, |a| a.marked);

    // `Event` gets another layout of the same size (name, size and
    // alignment cannot tell), but only `tally` is updated: `parse` would
    // still send the old layout. Refused; v2 keeps serving.
    ws.use_fixture("types_v2.rs", "components/src/types.rs");
    ws.use_fixture("tally_v3.rs", "components/src/tally.rs");
    ws.build(false);
    let refused = ws.cli(&["reload"]);
    assert!(!refused.status.success());
    let why = text(&refused);
    assert!(
        why.contains("reload refused, nothing changed: the definition of `Event` changed")
            && why.contains("arc `parse.out -> tally.inp`")
            && why.contains("`parse` keeps running the old build (`Parse` v1 is unchanged)"),
        "{why}"
    );

    // Files that are not an evoflow build of this program.
    let missing = ws.cli(&["reload", "--library", "/nonexistent/libnothing.so"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("cannot read `/nonexistent/libnothing.so`"),
        "{}",
        text(&missing)
    );
    let executable = ws.cli(&["reload", "--library", ws.host().to_str().unwrap()]);
    assert!(!executable.status.success());
    assert!(
        text(&executable).contains("is not an evoflow component library"),
        "{}",
        text(&executable)
    );
    let libc = libc_path();
    let foreign = ws.cli(&["reload", "--library", &libc]);
    assert!(!foreign.status.success());
    assert!(
        text(&foreign).contains(&format!(
            "`{libc}` is not an evoflow component library (it has no `evoflow_build_info` symbol)"
        )),
        "{}",
        text(&foreign)
    );

    // A foreign shared library that exports the entry symbol and has an
    // initialiser: refused from the file alone, the initialiser never runs.
    let fake_dir = ws.dir.join("fake");
    std::fs::create_dir_all(&fake_dir).unwrap();
    let marker = fake_dir.join("initialiser-ran");
    std::fs::write(
        fake_dir.join("fake.c"),
        format!(
            "#include <stdio.h>\n\
             __attribute__((constructor)) static void init(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\n\
             const char *evoflow_build_info(void) {{ return \"evoflow-library 2\"; }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(fake_dir.join("libfake.so"))
        .arg(fake_dir.join("fake.c"))
        .status()
        .expect("cc runs");
    assert!(built.success());
    let fake = ws.cli(&[
        "reload",
        "--library",
        fake_dir.join("libfake.so").to_str().unwrap(),
    ]);
    assert!(!fake.status.success());
    assert!(
        text(&fake).contains("it has no build stamp"),
        "{}",
        text(&fake)
    );
    assert!(!marker.exists(), "the foreign library's initialiser ran");

    // A version bump without a migration path from the running version.
    ws.restore("components/src/types.rs");
    ws.use_fixture("tally_v2.rs", "components/src/tally.rs");
    ws.edit("components/src/tally.rs", "version = 2,", "version = 3,");
    ws.build(false);
    let unmigratable = ws.cli(&["reload"]);
    assert!(!unmigratable.status.success());
    assert!(
        text(&unmigratable).contains(
            "`Tally` v3 has no migration path from `Tally` v2 (it declares v1 -> v3); add `#[migrate(from = 2)]` to `Tally`"
        ),
        "{}",
        text(&unmigratable)
    );

    // The same sources as running, but another dependency set.
    ws.use_fixture("tally_v2.rs", "components/src/tally.rs");
    let manifest = ws.dir.join("components/Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{toml}itoa = \"1\"\n")).unwrap();
    ws.build(false);
    let deps = ws.cli(&["reload"]);
    assert!(!deps.status.success());
    assert!(
        text(&deps).contains("it was built with other dependencies than the running program"),
        "{}",
        text(&deps)
    );

    // `Event` changes layout again (same name, size and alignment), and
    // this time both ends of `parse.out -> tally.inp` are updated together:
    // accepted, and that arc gets a new queue, since the old one was made
    // for the old layout.
    std::fs::write(&manifest, &toml).unwrap();
    ws.use_fixture("types_v2.rs", "components/src/types.rs");
    ws.use_fixture("tally_v3.rs", "components/src/tally.rs");
    ws.edit(
        "components/src/parse.rs",
        "#[component(outputs(out: Event))]",
        "#[component(version = 2, outputs(out: Event))]",
    );
    ws.build(false);
    let both = ws.cli(&["reload"]);
    assert!(both.status.success(), "{}", text(&both));
    let report = text(&both);
    assert!(
        report.contains("disconnected parse.out -> tally.inp")
            && report.contains("connected parse.out -> tally.inp"),
        "{report}"
    );
    read_until(&program, &mut seen, |a| a.letters.is_some());

    // The same sources, the library crate built with `-C panic=abort`
    // (its dependencies built to unwind, as cargo links them): its first
    // panic would kill the host. Refused before any of its code runs.
    let aborting = ws.build_library_with("panic-abort", &["-C", "panic=abort"]);
    let refused = ws.cli(&["reload", "--library", aborting.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("its panic strategy")
            && text(&refused).contains("is `abort` but the running program's is `unwind`"),
        "{}",
        text(&refused)
    );

    // Doc comments on the component and its type change no code: the
    // rebuild changes nothing (neither refused nor an update).
    ws.edit(
        "components/src/tally.rs",
        "pub struct Tally {",
        "/// Word counts, with their total.\npub struct Tally {",
    );
    ws.edit(
        "components/src/tally.rs",
        "#[component(version = 3,",
        "/// Counts each event's word.\n#[component(version = 3,",
    );
    ws.build(false);
    let docs = ws.cli(&["reload"]);
    assert!(docs.status.success(), "{}", text(&docs));
    assert!(text(&docs).contains("nothing changed"), "{}", text(&docs));

    // A rename (`tally` -> `counter`) would start `counter` afresh and
    // drop `tally`'s counts: refused, saying so. Nothing is rebuilt into
    // the running program.
    for (from, to) in [
        ("tally: tally::Tally;", "counter: tally::Tally;"),
        ("parse.out -> tally.inp;", "parse.out -> counter.inp;"),
        ("tally.out -> mark.inp;", "counter.out -> mark.inp;"),
    ] {
        ws.edit("components/src/lib.rs", from, to);
    }
    ws.build(false);
    let renamed = ws.cli(&["reload"]);
    assert!(!renamed.status.success());
    assert!(
        text(&renamed).contains(
            "instance `tally` (`Tally`, which has state) is not in the new build and `counter` (`Tally`) is new: a rename, which would lose `tally`'s state"
        ),
        "{}",
        text(&renamed)
    );
    ws.use_fixture("lib_marked.rs", "components/src/lib.rs");

    // A bad build shipped with a watch: `tally` panics on a word the feed
    // never sends. Sent once, it is rolled back by itself (its state,
    // the same version's, comes back with what it counted meanwhile);
    // every other word is answered as before.
    let tally_line = |status: &str| {
        let line = status.lines().find(|l| l.starts_with("tally:")).unwrap();
        line.split_once("code from").unwrap().1.to_owned()
    };
    let before = tally_line(&text(&ws.cli(&["status"])));
    ws.edit("components/src/tally.rs", "version = 3,", "version = 4,");
    ws.edit(
        "components/src/tally.rs",
        "fn inp(&mut self, e: Event, out: &mut Outputs<Self>) {",
        "fn inp(&mut self, e: Event, out: &mut Outputs<Self>) {\n        assert!(&*e.word != \"kiwi\", \"tally cannot count kiwis\");",
    );
    ws.edit(
        "components/src/tally.rs",
        "    #[migrate(from = 2)]",
        "    #[migrate(from = 3)]\n    fn from_v3(old: Tally) -> Self {\n        old\n    }\n\n    #[migrate(down = 3)]\n    fn to_v3(&self) -> &Self {\n        self\n    }\n\n    #[migrate(from = 2)]",
    );
    ws.build(false);
    let watched = ws.cli(&["reload", "--watch", "30s"]);
    assert!(watched.status.success(), "{}", text(&watched));
    assert!(
        text(&watched).contains("tally: Tally v3 -> Tally v4"),
        "{}",
        text(&watched)
    );
    let mut kiwi = TcpStream::connect(&addr).unwrap();
    kiwi.write_all(b"1 kiwi\n").unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        let status = text(&ws.cli(&["status"]));
        if status.contains("rolled back by update") {
            break status;
        }
        assert!(Instant::now() < deadline, "no rollback:\n{status}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.contains("`tally` panicked within its watch: tally cannot count kiwis")
            && status.contains("tally: state downgraded to v3 by the new `Tally`"),
        "{status}"
    );
    assert_eq!(tally_line(&status), before, "{status}");
    drop(kiwi);

    let resumed = seen.last().unwrap().seq;
    read_until(&program, &mut seen, |a| a.seq >= resumed + 300);
    stop.store(true, Ordering::Relaxed);
    let last = feeder.join().unwrap();
    read_until(&program, &mut seen, |a| a.seq == last);
    program.signal("-TERM");
    assert!(program.child.wait().unwrap().success());
    assert_eq!(sent.load(Ordering::Relaxed), last);

    // Every word answered once, in order; v1 until the switch, v2 after;
    // counts continue across it (the state migrated) and v2's total, built
    // by the migration, is the number of words so far.
    let mut counts = std::collections::HashMap::new();
    let (mut in_v2, mut marked, mut in_v3) = (false, false, false);
    for (i, a) in seen.iter().enumerate() {
        assert_eq!(a.seq, i as u64 + 1, "lost, duplicated or reordered: {a:?}");
        let count = counts.entry(a.word.clone()).or_insert(0);
        *count += 1;
        assert_eq!(a.count, *count, "{a:?}");
        match a.total {
            Some(total) => {
                in_v2 = true;
                assert_eq!(total, a.seq, "{a:?}");
            }
            None => assert!(!in_v2, "a v1 answer after v2 took over: {a:?}"),
        }
        assert!(
            a.marked || !marked,
            "an unmarked answer after `mark`: {a:?}"
        );
        assert!(!a.marked || in_v2, "`mark` came after v2: {a:?}");
        marked = a.marked;
        match a.letters {
            Some(n) => {
                in_v3 = true;
                assert_eq!(n, a.word.len(), "{a:?}");
            }
            None => assert!(!in_v3, "a v2 answer after v3 took over: {a:?}"),
        }
    }
    assert!(in_v2 && marked && in_v3);
    let log = std::fs::read_to_string(&program.log).unwrap();
    assert!(
        log.contains("tally: Tally v1 -> Tally v2"),
        "the log reports the update:\n{log}"
    );
    assert!(
        log.contains("dropped malformed line \"not-a-number\""),
        "a component's `tracing` event reaches the host's log:\n{log}"
    );
    drop(malformed);
}
