//! Membership and decisions against a real etcd, started by the test
//! (Debian: `apt-get install etcd-server`; skipped with a printed reason,
//! not passed silently, where it is missing).

use evoflow_cluster::{Cluster, ClusterError, Decision, Machine, Member, LEASE};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/etcd.rs"]
mod support;
use support::Etcd;

const MEMBER: &str = "EVOFLOW_CLUSTER_TEST_MEMBER";

/// The names of the machines that are members now.
fn names(cluster: &Cluster) -> Vec<String> {
    cluster
        .machines()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

fn machine(name: &str, build: &str) -> Machine {
    Machine {
        name: name.into(),
        addr: format!("{name}.example:7000"),
        build: build.into(),
    }
}

/// Run as another machine's process (only when a test asks for it):
/// joins as `back` and stays until killed.
#[test]
fn member() {
    let Some(endpoint) = std::env::var_os(MEMBER) else {
        return;
    };
    let cluster = Cluster::connect(&[endpoint.into_string().unwrap()], "g").unwrap();
    let _membership = cluster.join(&machine("back", "b1")).unwrap();
    println!("joined");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_machine_joins_with_its_address_and_build_and_a_killed_one_leaves_within_the_lease() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let _front = cluster.join(&machine("front", "b1")).unwrap();
    let mut back = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "member", "--nocapture", "--test-threads=1"])
        .env(MEMBER, &etcd.endpoint)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(back.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .expect("the member prints")
        .unwrap()
        .contains("joined")
    {}
    assert_eq!(names(&cluster), ["back", "front"]);
    assert_eq!(cluster.machines().unwrap()[0], machine("back", "b1"));
    // Alive past its lease: it renews.
    std::thread::sleep(LEASE + Duration::from_millis(500));
    assert_eq!(names(&cluster), ["back", "front"]);
    // SAFETY: a plain syscall on our child's pid.
    unsafe { libc::kill(back.id() as libc::pid_t, libc::SIGKILL) };
    back.wait().unwrap();
    let t = Instant::now();
    while names(&cluster) != ["front"] {
        assert!(
            t.elapsed() < LEASE + Duration::from_secs(2),
            "a killed machine stayed a member"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("killed machine gone after {:?}", t.elapsed());
}

#[test]
fn a_name_taken_or_another_build_is_refused_with_the_reason() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let front = cluster.join(&machine("front", "b1")).unwrap();
    let e = cluster
        .join(&machine("front", "b1"))
        .err()
        .expect("a name taken");
    assert!(matches!(e, ClusterError::NameTaken { .. }), "{e}");
    assert!(
        e.to_string().contains("machine `front` has joined already"),
        "{e}"
    );
    let e = cluster
        .join(&machine("back", "b2"))
        .err()
        .expect("another build");
    assert_eq!(
        e.to_string(),
        "machine `back` runs build b2, but `front` runs build b1: every machine must run the same build"
    );
    // Left (dropped): its name is free again at once.
    drop(front);
    let t = Instant::now();
    while cluster.join(&machine("front", "b3")).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a left machine's name stayed taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a machine tells under its lease goes when it leaves; what it
/// tells lasting stays for the others to read after (why it failed: they
/// read it only once they saw it go).
#[test]
fn a_lasting_key_outlives_the_machine_that_told_it() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let front = cluster.join(&machine("front", "b1")).unwrap();
    cluster.tell(&front, "leased", "gone with it").unwrap();
    cluster
        .tell_lasting("lasting", "still here", Duration::from_secs(10))
        .unwrap();
    drop(front);
    assert_eq!(cluster.told("leased").unwrap(), vec![]);
    assert_eq!(
        cluster.told("lasting").unwrap(),
        vec![(String::new(), "still here".to_owned())]
    );
}

/// A membership that outlives the `Cluster` it joined through (as in a
/// machine's run, whose parts drop in any order) still leaves when it is
/// dropped: its name is free at once, not after its lease runs out. (It
/// was not: the cluster's runtime, gone first, took the task that revokes
/// the lease with it, and a machine run again at once waited ~2 s for its
/// own name.)
#[test]
fn a_membership_dropped_after_its_cluster_still_leaves_at_once() {
    let Some(etcd) = Etcd::start() else { return };
    let first = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let front = first.join(&machine("front", "b1")).unwrap();
    drop(first);
    drop(front);
    let again = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    match again.join(&machine("front", "b1")) {
        Ok(_) => {}
        Err(e) => panic!("the name stayed taken after its membership was dropped: {e}"),
    }
}

#[test]
fn every_proposer_reads_the_one_decision_of_an_update() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let _a = cluster.join(&machine("a", "b1")).unwrap();
    let b = cluster.join(&machine("b", "b1")).unwrap();
    // The participants, as an update is prepared with them.
    let ab = cluster.members().unwrap();
    assert_eq!(ab.len(), 2);
    for update in 1..=20u64 {
        // Eight machines race, proposing commit or abort.
        let decided: Vec<Decision> = std::thread::scope(|s| {
            let endpoints = etcd.endpoints();
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (endpoints, ab) = (endpoints.clone(), &ab);
                    s.spawn(move || {
                        let c = Cluster::connect(&endpoints, "g").unwrap();
                        let propose = if i % 3 == 0 {
                            Decision::Abort
                        } else {
                            Decision::Commit
                        };
                        c.decide(update, ab, propose).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            decided.iter().all(|d| *d == decided[0]),
            "update {update}: {decided:?}"
        );
        // Later proposals read it too.
        assert_eq!(
            cluster.decide(update, &ab, Decision::Commit).unwrap(),
            decided[0]
        );
        assert_eq!(
            cluster.decide(update, &ab, Decision::Abort).unwrap(),
            decided[0]
        );
    }
    // A participant that is not a member: no commit.
    let gone = Member {
        machine: machine("gone", "b1"),
        incarnation: 1,
    };
    let with_gone = [ab[0].clone(), gone];
    assert_eq!(
        cluster.decide(100, &with_gone, Decision::Commit).unwrap(),
        Decision::Abort
    );
    assert_eq!(
        cluster.decide(100, &ab, Decision::Commit).unwrap(),
        Decision::Abort
    );
    assert_eq!(
        cluster.decide(101, &ab, Decision::Commit).unwrap(),
        Decision::Commit
    );
    // A participant that left and came back under its name since the
    // update was prepared is another incarnation: no commit.
    drop(b);
    let t = Instant::now();
    let _b = loop {
        match cluster.join(&machine("b", "b1")) {
            Ok(m) => break m,
            Err(_) => {
                assert!(
                    t.elapsed() < Duration::from_secs(3),
                    "b could not join again"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert_eq!(
        cluster.decide(102, &ab, Decision::Commit).unwrap(),
        Decision::Abort
    );
    let again = cluster.members().unwrap();
    assert_eq!(
        cluster.decide(103, &again, Decision::Commit).unwrap(),
        Decision::Commit
    );
}

/// A listening misses nothing: while another machine tells keys and
/// takes decisions, what the listening read at its start and what it
/// hears after hold every one, whenever it started — and what is told
/// after it is heard.
#[test]
fn a_listening_reads_what_came_before_and_hears_all_that_comes_after() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let me = cluster.join(&machine("a", "b1")).unwrap();
    let members = cluster.members().unwrap();
    const N: u64 = 300;
    let (told, decided) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let c = Cluster::connect(&etcd.endpoints(), "g").unwrap();
            for i in 0..N {
                c.tell(&me, &format!("p/{i}"), &i.to_string()).unwrap();
                if i % 10 == 0 {
                    c.decide(i, &members, Decision::Commit).unwrap();
                }
            }
        });
        // Start listening in the middle of the writes.
        while cluster.told("p/").unwrap().len() < (N / 3) as usize {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (mut l, before) = cluster.listen("p/").unwrap();
        let mut told: BTreeSet<String> = before.told.into_iter().map(|t| t.key).collect();
        let mut decided: BTreeSet<(u64, bool)> = BTreeSet::new();
        let decide = |decided: &mut BTreeSet<_>, d: Vec<(u64, Decision)>| {
            decided.extend(d.into_iter().map(|(u, d)| (u, d == Decision::Commit)))
        };
        decide(&mut decided, before.decided);
        writer.join().unwrap();
        let (until, mut last) = (Instant::now() + Duration::from_secs(10), false);
        while !(told.contains("last") && decided.contains(&(N, false))) && Instant::now() < until {
            if told.len() == N as usize && !last {
                // After every write: one more key and one more decision.
                cluster.tell(&me, "p/last", "").unwrap();
                cluster.decide(N, &members, Decision::Abort).unwrap();
                last = true;
            }
            let heard = cluster.heard(&mut l, Duration::from_millis(200)).unwrap();
            told.extend(heard.told.into_iter().map(|t| t.key));
            decide(&mut decided, heard.decided);
        }
        (told, decided)
    });
    let mut want: BTreeSet<String> = (0..N).map(|i| i.to_string()).collect();
    want.insert("last".into());
    assert_eq!(told, want);
    let mut want: BTreeSet<(u64, bool)> = (0..N).step_by(10).map(|i| (i, true)).collect();
    want.insert((N, false));
    assert_eq!(decided, want);
}

/// The last vote and the decision it takes are one write, and are heard
/// together: a voter that heard every vote hears the decision with it,
/// and need not propose one of its own (a round to etcd).
#[test]
fn a_vote_that_decides_is_heard_with_its_decision() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let a = cluster.join(&machine("a", "b1")).unwrap();
    let members = cluster.members().unwrap();
    let (mut l, _) = cluster.listen("v/").unwrap();
    for update in 1..=20u64 {
        let (mine, other) = (format!("v/{update}/a"), format!("v/{update}/b"));
        cluster.tell(&a, &other, "yes").unwrap();
        assert!(cluster
            .vote_and_decide(&a, &mine, "yes", &[other], update, &members)
            .unwrap());
        let mut heard = cluster.heard(&mut l, Duration::from_secs(5)).unwrap();
        while heard.told.iter().all(|t| t.key != format!("{update}/a")) {
            assert!(heard.decided.is_empty(), "{heard:?}");
            heard = cluster.heard(&mut l, Duration::from_secs(5)).unwrap();
        }
        assert_eq!(heard.decided, [(update, Decision::Commit)], "{heard:?}");
    }
}

/// Forgetting an update takes what it left — the keys under its prefix,
/// its request, its decision — and nothing else: not another request
/// whose key starts with this one's (`request/m/1` and `request/m/10`:
/// the request was deleted as a prefix, found by review).
#[test]
fn forgetting_an_update_takes_its_keys_and_decision_and_nothing_else() {
    let Some(etcd) = Etcd::start() else { return };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let a = cluster.join(&machine("a", "b1")).unwrap();
    let members = cluster.members().unwrap();
    for key in [
        "request/m/1",
        "request/m/10",
        "7/vote/a",
        "7/done/a",
        "70/vote/a",
    ] {
        cluster.tell(&a, key, "x").unwrap();
    }
    cluster.decide(7, &members, Decision::Commit).unwrap();
    cluster.decide(70, &members, Decision::Commit).unwrap();
    cluster.forget(&["7/"], &["request/m/1"], 7);
    let until = Instant::now() + Duration::from_secs(5);
    while cluster.decision(7).unwrap().is_some() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cluster.decision(7).unwrap(), None);
    let mut left: Vec<String> = cluster.told("").unwrap().into_iter().map(|t| t.0).collect();
    left.sort();
    assert_eq!(left, ["70/vote/a", "request/m/10"]);
    assert_eq!(cluster.decision(70).unwrap(), Some(Decision::Commit));
}

#[test]
fn with_etcd_down_no_decision_is_taken() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let _a = cluster.join(&machine("a", "b1")).unwrap();
    etcd.stop();
    let t = Instant::now();
    let e = cluster
        .decide(1, &[], Decision::Commit)
        .expect_err("no decision without etcd");
    assert!(matches!(e, ClusterError::Etcd(_)), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?} to refuse",
        t.elapsed()
    );
    println!("refused after {:?}: {e}", t.elapsed());
}

#[test]
fn machines_of_two_builds_joining_at_once_never_both_get_in() {
    let Some(etcd) = Etcd::start() else { return };
    for round in 0..20 {
        let graph = format!("race{round}");
        let both = std::sync::Barrier::new(2);
        let joined: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = [("a", "b1"), ("b", "b2")]
                .into_iter()
                .map(|(name, build)| {
                    let (endpoints, graph, both) = (etcd.endpoints(), graph.clone(), &both);
                    s.spawn(move || {
                        let c = Cluster::connect(&endpoints, &graph).unwrap();
                        both.wait();
                        // Kept until both tried.
                        c.join(&machine(name, build)).map(|m| (c, m))
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            results.iter().map(|r| r.is_ok()).collect()
        });
        assert_eq!(
            joined.iter().filter(|j| **j).count(),
            1,
            "round {round}: {joined:?}"
        );
    }
}

#[test]
fn a_member_rides_out_a_short_etcd_stall_and_knows_when_it_is_out() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let member = cluster.join(&machine("a", "b1")).unwrap();
    // etcd frozen for less than the lease: renewals time out and are
    // tried again; still a member after.
    let signal = |sig| {
        // SAFETY: a plain syscall on our child's pid.
        assert_eq!(
            unsafe { libc::kill(etcd.child.id() as libc::pid_t, sig) },
            0
        )
    };
    signal(libc::SIGSTOP);
    std::thread::sleep(LEASE / 3);
    signal(libc::SIGCONT);
    std::thread::sleep(LEASE * 2);
    assert_eq!(member.lost(), None);
    assert_eq!(names(&cluster), ["a"]);
    // etcd gone for longer than the lease: the member knows it may be out
    // (a machine cut off from etcd is out for the others).
    etcd.stop();
    let t = Instant::now();
    while member.lost().is_none() {
        assert!(t.elapsed() < LEASE * 3, "a lost membership went unreported");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "membership lost after {:?}: {}",
        t.elapsed(),
        member.lost().unwrap()
    );
    // Back: the machine joins again (once etcd has let its old lease go).
    etcd.restart();
    drop(member);
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let t = Instant::now();
    while cluster.join(&machine("a", "b1")).is_err() {
        assert!(
            t.elapsed() < LEASE * 5,
            "could not join again after etcd came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// etcd down for longer than the lease is no loss once it is back: the
/// member's lease, which etcd keeps across its restart, is renewed again
/// (the data of a graph does not go through etcd, so it must not stop).
#[test]
fn a_member_outlives_an_etcd_outage_longer_than_its_lease() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let cluster = Cluster::connect(&etcd.endpoints(), "g").unwrap();
    let member = cluster.join(&machine("a", "b1")).unwrap();
    etcd.stop();
    std::thread::sleep(LEASE * 2);
    assert!(member.lost().is_some(), "unrenewed for twice the lease");
    etcd.restart();
    std::thread::sleep(LEASE * 3);
    assert_eq!(member.lost(), None);
    assert_eq!(names(&cluster), ["a"], "still a member after the outage");
}
