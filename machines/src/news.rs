//! What a machine hears of the updates spanning machines of its run: one
//! etcd listening, kept by the thread that takes part in them, and a
//! ledger of what was asked and said that the parts and the updates asked
//! on this machine both read.
//!
//! One listening for the whole run, not one per update: a watch etcd
//! starts while others write may begin behind the present, and etcd
//! catches such a watch up only every 100 ms.

use evoflow_cluster::{Cluster, Decision, Heard, Listening};
use evoflow_runtime::SPANNING_IDS;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the participants of one update said so far.
#[derive(Clone, Default)]
pub(crate) struct Said {
    pub posted: BTreeSet<String>,
    pub votes: BTreeMap<String, Result<(), String>>,
    /// How each machine's part ended: `ok\t<report>` or `err\t<why>`.
    pub done: BTreeMap<String, String>,
    pub decision: Option<Decision>,
    /// Its request's key, after `request/`.
    key: String,
}

impl Said {
    /// Takes in what a machine told of the update (`what`: the key after
    /// the update's prefix, `<kind>/<machine>`).
    fn hear(&mut self, what: &str, value: String) {
        let Some((kind, machine)) = what.split_once('/') else {
            return;
        };
        let machine = machine.to_owned();
        match kind {
            "posted" => {
                self.posted.insert(machine);
            }
            "vote" => {
                let vote = match value.strip_prefix("no\t") {
                    Some(why) => Err(why.to_owned()),
                    None => Ok(()),
                };
                self.votes.insert(machine, vote);
            }
            "done" => {
                self.done.insert(machine, value);
            }
            _ => {}
        }
    }

    /// The first refusal, as a reason.
    pub fn refusal(&self) -> Option<String> {
        self.votes.iter().find_map(|(m, v)| match v {
            Err(why) => Some(format!("machine `{m}`: {why}")),
            Ok(()) => None,
        })
    }
}

/// What was asked and said, as heard so far.
#[derive(Default)]
struct Ledger {
    /// Whether the listening works (if not, what is here may be old).
    hearing: bool,
    /// Requests heard and not yet taken up, by id.
    requests: BTreeMap<u64, String>,
    /// What was said of each update heard, until both its part here and
    /// its asker (if asked here) are done with it.
    said: BTreeMap<u64, Said>,
    /// Keys of the requests asked here whose askers wait.
    asking: HashSet<String>,
    /// This machine's part has been taken up for every update up to this
    /// id (they are taken up in id order, which is the order heard).
    taken_up_to: u64,
    /// The update whose part runs here now.
    running: Option<u64>,
    /// Counts what was heard, so that a waiter knows whether it missed
    /// something since it looked.
    heard: u64,
}

/// The ledger, shared.
#[derive(Default)]
pub(crate) struct Book {
    ledger: Mutex<Ledger>,
    /// Notified on everything heard.
    changed: Condvar,
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the listening works now.
    pub fn hears(&self) -> bool {
        self.lock().hearing
    }

    /// What was said of update `id` so far.
    pub fn said(&self, id: u64) -> Said {
        self.said_and_mark(id).0
    }

    /// The next request not yet taken up, in the order etcd gave them.
    pub fn next_request(&self) -> Option<(u64, String)> {
        self.lock().requests.pop_first()
    }

    /// Whether `id` is new to this machine's part (once only): its part
    /// then runs until [`Book::part_done`].
    pub fn take_up(&self, id: u64) -> bool {
        let mut l = self.lock();
        if id <= l.taken_up_to {
            return false;
        }
        l.taken_up_to = id;
        l.running = Some(id);
        true
    }

    /// This machine's part is done with `id`: what was said of it goes,
    /// unless its asker still waits.
    pub fn part_done(&self, id: u64) {
        let mut l = self.lock();
        if l.running == Some(id) {
            l.running = None;
        }
        if l.said.get(&id).is_some_and(|s| !l.asking.contains(&s.key)) {
            l.said.remove(&id);
        }
    }

    /// An update is about to be asked under `key`: what is said of it is
    /// kept until [`Book::asker_done`].
    pub fn asking(&self, key: &str) {
        self.lock().asking.insert(key.to_owned());
    }

    /// The asker of the update asked under `key` is done with it: what
    /// was said of it goes, unless this machine's part still needs it.
    pub fn asker_done(&self, key: &str) {
        let mut l = self.lock();
        l.asking.remove(key);
        let found = l.said.iter().find(|(_, s)| s.key == key).map(|(id, _)| *id);
        if let Some(id) = found {
            if id <= l.taken_up_to && l.running != Some(id) {
                l.said.remove(&id);
            }
        }
    }

    /// What was said of update `id` so far, and a mark to wait from
    /// ([`Book::wait`]).
    pub fn said_and_mark(&self, id: u64) -> (Said, u64) {
        let l = self.lock();
        (l.said.get(&id).cloned().unwrap_or_default(), l.heard)
    }

    /// Waits until something is heard after `mark`, or `until`.
    pub fn wait(&self, mark: u64, until: Instant) {
        let wait = until.saturating_duration_since(Instant::now());
        let l = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(l, wait, |l| l.heard == mark);
    }

    fn take(&self, heard: Heard) {
        let mut l = self.lock();
        l.hearing = true;
        l.heard += 1;
        // Keys as told under `span/<run>/`: an update is followed from its
        // request (whose creating revision is its id), which comes before
        // anything said of it.
        for t in &heard.told {
            let Some(key) = t.key.strip_prefix("request/") else {
                continue;
            };
            let id = SPANNING_IDS | t.created as u64;
            let taken = id <= l.taken_up_to;
            if taken && !l.asking.contains(key) {
                // Heard again (a new listening reads all): done with.
                continue;
            }
            if !taken {
                l.requests.insert(id, t.value.clone());
            }
            l.said.entry(id).or_insert_with(|| Said {
                key: key.to_owned(),
                ..Said::default()
            });
        }
        for t in heard.told {
            let Some((id, what)) = t.key.split_once('/') else {
                continue;
            };
            if let Some(said) = id.parse().ok().and_then(|id| l.said.get_mut(&id)) {
                said.hear(what, t.value);
            }
        }
        for (id, decision) in heard.decided {
            if let Some(said) = l.said.get_mut(&id) {
                said.decision = Some(decision);
            }
        }
        drop(l);
        self.changed.notify_all();
    }

    fn deaf(&self) {
        let mut l = self.lock();
        l.hearing = false;
        l.heard += 1;
        drop(l);
        self.changed.notify_all();
    }
}

/// The listening, kept by one thread, writing into a [`Book`].
pub(crate) struct News {
    listening: Option<Listening>,
    /// `span/<run>/`.
    prefix: String,
}

impl News {
    /// The news of run `run`, not yet listened to.
    pub fn of_run(run: i64) -> News {
        News {
            listening: None,
            prefix: format!("span/{run}/"),
        }
    }

    /// Hears what comes (at most until `until`, and `at_most`) into
    /// `book`. Listens again if the listening ended, which reads again
    /// all that was said.
    pub fn hear(&mut self, cluster: &Cluster, book: &Book, until: Instant, at_most: Duration) {
        let wait = until.saturating_duration_since(Instant::now()).min(at_most);
        let Some(l) = self.listening.as_mut() else {
            match cluster.listen(&self.prefix) {
                Ok((l, heard)) => {
                    self.listening = Some(l);
                    book.take(heard);
                }
                Err(_) => std::thread::sleep(wait),
            }
            return;
        };
        match cluster.heard(l, wait) {
            Ok(heard) => book.take(heard),
            Err(_) => {
                self.listening = None;
                book.deaf();
            }
        }
    }
}

/// A real etcd for the tests (started by each test).
#[cfg(test)]
#[path = "../../cluster/tests/support/etcd.rs"]
mod etcd;

#[cfg(test)]
mod tests {
    use super::*;
    use evoflow_cluster::{Machine, Told};

    fn told(key: &str, value: &str, created: i64) -> Told {
        Told {
            key: key.into(),
            value: value.into(),
            created,
        }
    }

    fn heard(told: Vec<Told>, decided: Vec<(u64, Decision)>) -> Heard {
        Heard { told, decided }
    }

    /// A request told while a machine did not listen (before its first
    /// listening, or while etcd restarted) is read when it listens (the
    /// keys read back once lacked `request/`, and nothing was queued:
    /// found by review).
    #[test]
    fn a_request_told_before_listening_is_queued_when_listening_starts() {
        let Some(etcd) = etcd::Etcd::start() else {
            return;
        };
        let cluster = Cluster::connect(&etcd.endpoints(), "news").unwrap();
        let me = Machine {
            name: "m".into(),
            addr: "127.0.0.1:1".into(),
            build: "b".into(),
        };
        let membership = cluster.join(&me).unwrap();
        let created = cluster
            .tell(&membership, "span/7/request/m/0", "asked")
            .unwrap();
        let (book, mut news) = (Book::default(), News::of_run(7));
        news.hear(
            &cluster,
            &book,
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let id = SPANNING_IDS | created as u64;
        assert_eq!(book.next_request(), Some((id, "asked".to_owned())));
        // What is said of it after the listening started is heard too.
        cluster
            .tell(&membership, &format!("span/7/{id}/posted/m"), "")
            .unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while book.said(id).posted.is_empty() && Instant::now() < until {
            news.hear(&cluster, &book, until, Duration::from_millis(100));
        }
        assert!(book.said(id).posted.contains("m"));
        assert!(book.hears());
    }

    /// A waiter that looked before news came, and waits after, is not
    /// left waiting: it waits from what it saw (a wait that took the lock
    /// afresh missed it, and slept out its whole timeout: found by a
    /// bench whose p99 rose by 50 ms).
    #[test]
    fn news_between_a_look_and_a_wait_ends_the_wait_at_once() {
        let book = Book::default();
        let (_, mark) = book.said_and_mark(1);
        book.take(heard(vec![], vec![]));
        let t = Instant::now();
        book.wait(mark, t + Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // And news while it waits wakes it.
        let (_, mark) = book.said_and_mark(1);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                book.take(heard(vec![], vec![]));
            });
            let t = Instant::now();
            book.wait(mark, t + Duration::from_secs(5));
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        });
    }

    /// What is said of an update asked here outlives this machine's part
    /// in it until the asker is done, and the other way round — also when
    /// the asker gives up while the part still runs (it used to take the
    /// part's news away: found by review); a request heard again after its
    /// part ended is not taken up again.
    #[test]
    fn what_is_said_is_kept_while_the_part_or_the_asker_needs_it() {
        let book = Book::default();
        let id = SPANNING_IDS | 5;
        book.asking("m/0");
        book.take(heard(vec![told("request/m/0", "r", 5)], vec![]));
        assert_eq!(book.next_request(), Some((id, "r".to_owned())));
        assert!(book.take_up(id));
        book.take(heard(
            vec![told(&format!("{id}/done/m"), "ok\tfine", 6)],
            vec![(id, Decision::Commit)],
        ));
        book.part_done(id);
        let said = book.said(id);
        assert_eq!(said.decision, Some(Decision::Commit));
        assert_eq!(said.done.get("m").map(String::as_str), Some("ok\tfine"));
        book.asker_done("m/0");
        assert!(book.said(id).decision.is_none());
        // Listening again reads the request again: not taken up again.
        book.take(heard(vec![told("request/m/0", "r", 5)], vec![]));
        assert_eq!(book.next_request(), None);
        assert!(!book.take_up(id));
        assert!(book.said(id).done.is_empty());

        // Asked elsewhere: gone when the part is done.
        let other = SPANNING_IDS | 9;
        book.take(heard(vec![told("request/n/0", "r", 9)], vec![]));
        book.take(heard(
            vec![told(&format!("{other}/vote/n"), "no\twhy", 10)],
            vec![],
        ));
        assert_eq!(
            book.said(other).refusal().as_deref(),
            Some("machine `n`: why")
        );
        assert_eq!(book.next_request().map(|r| r.0), Some(other));
        assert!(book.take_up(other));
        book.part_done(other);
        assert!(book.said(other).votes.is_empty());

        // The asker done (given up) while the part runs: kept until the
        // part is done.
        let third = SPANNING_IDS | 11;
        book.asking("m/1");
        book.take(heard(vec![told("request/m/1", "r", 11)], vec![]));
        assert_eq!(book.next_request().map(|r| r.0), Some(third));
        assert!(book.take_up(third));
        book.take(heard(
            vec![told(&format!("{third}/posted/m"), "", 12)],
            vec![],
        ));
        book.asker_done("m/1");
        book.take(heard(vec![], vec![(third, Decision::Commit)]));
        let said = book.said(third);
        assert!(said.posted.contains("m"));
        assert_eq!(said.decision, Some(Decision::Commit));
        book.part_done(third);
        assert!(book.said(third).posted.is_empty());

        // The asker done before its request was heard (its write's answer
        // was lost): nothing is kept for it once the part is done.
        let fourth = SPANNING_IDS | 13;
        book.asking("m/2");
        book.asker_done("m/2");
        book.take(heard(vec![told("request/m/2", "r", 13)], vec![]));
        assert_eq!(book.next_request().map(|r| r.0), Some(fourth));
        assert!(book.take_up(fourth));
        book.part_done(fourth);
        assert!(book.lock().said.is_empty());
    }
}
