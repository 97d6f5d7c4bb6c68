//! Updates that span machines.
//!
//! A machine asks ([`MachineRun::update_everywhere`]): it computes the
//! update's region on the whole graph from what every machine published
//! (instances and arcs) and writes the request in etcd. Every machine takes
//! part: under its update lock it checks that its arcs are those the
//! region was computed on, builds its part from the request (with the
//! program's [`Replacements`]; a machine without instances in the region
//! has an empty part), posts it, and arms it once every machine has
//! posted, so no marker reaches a machine before its part; markers cross
//! machines in-band on the arcs. Each votes
//! once its changing instances have prepared. The decision is one etcd
//! transaction, taken by whichever machine sees it due first: commit only
//! if every participant voted to and still holds its lease, else abort;
//! every participant applies it. Every wait ends at the update's deadline;
//! a machine that voted to commit and cannot learn the decision for
//! [`IN_DOUBT`] after it halts its part (the others may have committed).

use crate::error::MachineError;
use crate::news::{Book, News, Said};
use crate::run::MachineRun;
use crate::status;
use evoflow_cluster::{Cluster, Decision, Member, Membership, LEASE};
use evoflow_graph::reachable;
use evoflow_runtime::{
    panic_text, Coordinator, Schedule, Stopper, Update, UpdateError, Updater, Verdict,
    DEFAULT_DEADLINE, SPANNING_IDS,
};
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long after the deadline a machine that voted to commit keeps
/// trying to learn the decision before it halts its part: longer than a
/// lease, so a lost participant has left by then and an abort can be
/// taken.
const IN_DOUBT: Duration = Duration::from_secs(3 * LEASE.as_secs());
/// How long a wait for news from etcd lasts before what was heard is
/// looked at again (news wakes it at once).
const REREAD: Duration = Duration::from_millis(50);
/// How long the parts get, after the decision, to install it and say so.
const FINISH: Duration = Duration::from_secs(2);

/// An update spanning machines: replacements of instances wherever they
/// run, applied as one update.
#[derive(Clone, Debug)]
pub struct Spanning {
    replace: Vec<(String, String)>,
    deadline: Duration,
}

impl Default for Spanning {
    fn default() -> Self {
        Spanning::new()
    }
}

impl Spanning {
    /// An update that changes nothing yet, with the default deadline.
    pub fn new() -> Self {
        Spanning {
            replace: Vec::new(),
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// Replaces `instance`, on whichever machine runs it, by what that
    /// machine's [`Replacements`] make of `with` (a name, a library path:
    /// the program decides).
    pub fn replace(mut self, instance: &str, with: &str) -> Self {
        self.replace.push((instance.to_owned(), with.to_owned()));
        self
    }

    /// How long every machine may take to prepare before the update
    /// aborts everywhere.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// Builds a machine's part of an update spanning machines: given the part
/// so far, an instance on this machine and what the request replaces it
/// with, the part with that replacement — or why this machine refuses the
/// update (it then aborts everywhere).
pub type Replacements = Arc<dyn Fn(Update, &str, &str) -> Result<Update, String> + Send + Sync>;

/// Builds a machine's whole part of an update spanning machines at once:
/// given the running part and the request's replacements (instance,
/// with; of every machine: this one's are those of its instances, maybe
/// none), the part's update — or why this machine refuses (it then aborts
/// everywhere). Called on every machine the request names, so each can
/// check what it is asked. The part's deadline is the request's.
pub type PartUpdates =
    Arc<dyn Fn(&Updater, &[(String, String)]) -> Result<Update, String> + Send + Sync>;

/// Per-instance [`Replacements`] as a [`PartUpdates`].
pub(crate) fn per_instance(make: Replacements) -> PartUpdates {
    Arc::new(move |part, replace| {
        let mine: HashSet<String> = part.instances().into_iter().map(|i| i.name).collect();
        let mut update = Update::new();
        for (instance, with) in replace.iter().filter(|(i, _)| mine.contains(i)) {
            update = make(update, instance, with)
                .map_err(|why| format!("replacing `{instance}` by {with:?}: {why}"))?;
        }
        Ok(update)
    })
}

/// An update spanning machines that committed everywhere.
#[derive(Clone, Debug)]
pub struct SpanningReport {
    /// Its id, the same on every machine.
    pub id: u64,
    /// Each participating machine with its own report of its part.
    pub machines: Vec<(String, String)>,
    /// From the request to the last machine's report.
    pub duration: Duration,
}

/// The request, as written in etcd: one field a line, tab-separated.
struct Request {
    deadline: Duration,
    /// Every machine: each holds its turn to update while the update
    /// runs, and checks that its arcs are still those the region was
    /// computed on (`shapes`, digests by machine).
    machines: Vec<String>,
    shapes: Vec<(String, u64)>,
    region: HashSet<String>,
    replace: Vec<(String, String)>,
}

impl Request {
    fn encode(&self) -> String {
        let mut region: Vec<&String> = self.region.iter().collect();
        region.sort();
        let mut text = format!("{}\n", self.deadline.as_millis());
        text += &format!("machines\t{}\n", self.machines.join("\t"));
        let shapes: Vec<String> = self
            .shapes
            .iter()
            .map(|(m, d)| format!("{m}={d}"))
            .collect();
        text += &format!("shapes\t{}\n", shapes.join("\t"));
        let region: Vec<&str> = region.iter().map(|s| s.as_str()).collect();
        text += &format!("region\t{}\n", region.join("\t"));
        for (instance, with) in &self.replace {
            text += &format!("replace\t{instance}\t{with}\n");
        }
        text
    }

    fn decode(text: &str) -> Option<Request> {
        let mut lines = text.lines();
        let deadline = Duration::from_millis(lines.next()?.parse().ok()?);
        let mut r = Request {
            deadline,
            machines: Vec::new(),
            shapes: Vec::new(),
            region: HashSet::new(),
            replace: Vec::new(),
        };
        for line in lines {
            let mut f = line.split('\t');
            match (f.next()?, f) {
                ("machines", f) => r.machines = f.map(str::to_owned).collect(),
                ("shapes", f) => {
                    for s in f {
                        let (m, d) = s.split_once('=')?;
                        r.shapes.push((m.to_owned(), d.parse().ok()?));
                    }
                }
                ("region", f) => r.region = f.map(str::to_owned).collect(),
                ("replace", mut f) => {
                    let (i, w) = (f.next()?, f.next()?);
                    r.replace.push((i.to_owned(), w.to_owned()));
                }
                _ => return None,
            }
        }
        Some(r)
    }
}

/// The region of an update that changes `changing`: those and every
/// instance on a path between two of them, over `arcs` (instance to
/// instance, on any machine).
fn region(changing: &HashSet<String>, arcs: &[(String, String)]) -> HashSet<String> {
    let reach = |forward: bool| {
        reachable(changing.iter().cloned(), |n: &String| {
            let next = arcs.iter().filter_map(|(from, to)| match forward {
                true if from == n => Some(to),
                false if to == n => Some(from),
                _ => None,
            });
            next.cloned().collect::<Vec<_>>()
        })
    };
    let (down, up) = (reach(true), reach(false));
    down.intersection(&up).cloned().collect()
}

/// What every machine's coordination of spanning updates shares.
pub(crate) struct Coordination {
    pub cluster: Arc<Cluster>,
    pub membership: Arc<Membership>,
    pub run: i64,
    pub me: String,
    /// Every machine as it joined this run.
    pub members: Vec<Member>,
    /// What this machine last published: its instances and its arcs.
    pub published: Mutex<(String, String)>,
    /// What this machine heard of the spanning updates of the run.
    pub book: Book,
}

impl Coordination {
    fn key(&self, id: u64, rest: &str) -> String {
        format!("span/{}/{id}/{rest}", self.run)
    }
}

/// This machine's side of one spanning update, for the runtime.
struct Part<'a> {
    c: &'a Coordination,
    news: &'a mut News,
    id: u64,
    region: HashSet<String>,
    /// The participants.
    machines: Vec<String>,
    members: Vec<Member>,
    /// The digest of this machine's arcs the region was computed on.
    shape: Option<u64>,
    deadline: Instant,
    voted: bool,
    /// When etcd was last asked which participants are still members.
    asked: Instant,
}

impl Part<'_> {
    /// Votes to abort, and takes the decision if nobody has: safe without
    /// waiting, as no commit can be taken without this machine's vote.
    /// Returns why, for the others.
    fn refuse(&mut self, why: &str) -> String {
        self.voted = true;
        let key = self.c.key(self.id, &format!("vote/{}", self.c.me));
        let _ = self
            .c
            .cluster
            .tell(&self.c.membership, &key, &format!("no\t{why}"));
        let _ = self
            .c
            .cluster
            .decide(self.id, &self.members, Decision::Abort);
        format!("machine `{}`: {why}", self.c.me)
    }

    /// A participant that left the graph (its lease ended: it died, froze
    /// or was cut off) — asked of etcd at most every [`REREAD`] × 5.
    fn lost(&mut self) -> Option<String> {
        if self.asked.elapsed() < REREAD * 5 {
            return None;
        }
        self.asked = Instant::now();
        let now = self.c.cluster.members().ok()?;
        let gone = self.members.iter().find(|m| !now.contains(m))?;
        Some(format!(
            "machine `{}` left the graph (its etcd lease ended: it died, froze or was cut off)",
            gone.machine.name
        ))
    }

    /// Why an update that was decided to abort did.
    fn aborted(&self, said: &Said) -> String {
        said.refusal().unwrap_or_else(|| {
            format!(
                "not every machine had prepared in time, or one was lost (no vote from {})",
                self.missing(|m| said.votes.contains_key(m))
            )
        })
    }

    /// Waits for news, at most until `until`.
    fn hear(&mut self, until: Instant) {
        let c = self.c;
        self.news.hear(&c.cluster, &c.book, until, REREAD);
    }

    /// The participants of which `has` is not true, for messages.
    fn missing(&self, has: impl Fn(&str) -> bool) -> String {
        let missing: Vec<&str> = self
            .machines
            .iter()
            .map(String::as_str)
            .filter(|m| !has(m))
            .collect();
        missing.join(", ")
    }
}

impl Coordinator for Part<'_> {
    fn id(&self) -> u64 {
        self.id
    }

    fn region(&self) -> &HashSet<String> {
        &self.region
    }

    fn agrees(&self, now: &Schedule) -> Result<(), String> {
        if Some(status::digest(&status::arcs_text(now))) == self.shape {
            return Ok(());
        }
        Err(format!(
            "machine `{}` has other arcs than it had published (changed by an update not made through `MachineRun::update`, or at the same time)",
            self.c.me
        ))
    }

    fn posted(&mut self) -> Result<(), String> {
        let key = self.c.key(self.id, &format!("posted/{}", self.c.me));
        if let Err(e) = self.c.cluster.tell(&self.c.membership, &key, "") {
            return Err(self.refuse(&format!("could not say it posted its part: {e}")));
        }
        loop {
            let said = self.c.book.said(self.id);
            if said.decision.is_some() || said.refusal().is_some() {
                // Only ever an abort: this machine has not voted.
                return Err(self.aborted(&said));
            }
            if self.machines.iter().all(|m| said.posted.contains(m)) {
                return Ok(());
            }
            if let Some(why) = self.lost() {
                return Err(self.refuse(&why));
            }
            if Instant::now() >= self.deadline {
                let why = match self.c.book.hears() {
                    true => format!(
                        "machine(s) {} did not post their part by the deadline",
                        self.missing(|m| said.posted.contains(m))
                    ),
                    false => "etcd could not be heard".to_owned(),
                };
                return Err(self.refuse(&why));
            }
            self.hear(self.deadline);
        }
    }

    fn vote(&mut self, vote: Result<(), String>) -> Verdict {
        if let Err(why) = vote {
            return Verdict::Abort(self.refuse(&why));
        }
        self.voted = true;
        let key = self.c.key(self.id, &format!("vote/{}", self.c.me));
        let others: Vec<String> = self
            .machines
            .iter()
            .filter(|m| **m != self.c.me)
            .map(|m| self.c.key(self.id, &format!("vote/{m}")))
            .collect();
        let mut told = false;
        let mut trouble = String::new();
        let give_up = self.deadline + IN_DOUBT;
        loop {
            if !told {
                let (c, id) = (&self.c, self.id);
                match c.cluster.vote_and_decide(
                    &c.membership,
                    &key,
                    "yes",
                    &others,
                    id,
                    &self.members,
                ) {
                    Ok(true) => return Verdict::Commit,
                    Ok(false) => told = true,
                    Err(e) => trouble = e.to_string(),
                }
            }
            let said = self.c.book.said(self.id);
            match said.decision {
                Some(Decision::Commit) => return Verdict::Commit,
                Some(Decision::Abort) => return Verdict::Abort(self.aborted(&said)),
                None => {}
            }
            let all_yes = self
                .machines
                .iter()
                .all(|m| matches!(said.votes.get(m), Some(Ok(()))));
            let late = Instant::now() >= self.deadline;
            let propose = if said.refusal().is_some() || late || self.lost().is_some() {
                Some(Decision::Abort)
            } else if all_yes {
                Some(Decision::Commit)
            } else {
                None
            };
            if let Some(p) = propose {
                match self.c.cluster.decide(self.id, &self.members, p) {
                    Ok(Decision::Commit) => return Verdict::Commit,
                    Ok(Decision::Abort) => return Verdict::Abort(self.aborted(&said)),
                    Err(e) => trouble = e.to_string(),
                }
            }
            if !self.c.book.hears() {
                trouble = "etcd could not be heard".to_owned();
            }
            if Instant::now() >= give_up {
                return Verdict::Unknown(trouble);
            }
            self.hear(give_up);
        }
    }
}

/// The thread on every machine that takes part in spanning updates.
pub(crate) struct Participant {
    pub c: Arc<Coordination>,
    pub part: Updater,
    pub stopper: Stopper,
    pub parts: Option<PartUpdates>,
    pub stop: Arc<AtomicBool>,
    /// The thread that builds this machine's part of an update, once one
    /// was built: the program builds one part at a time.
    pub building: RefCell<Option<JoinHandle<()>>>,
}

impl Participant {
    /// Takes part in every spanning update asked, in the order etcd
    /// ordered the requests (the same on every machine), until `stop`.
    pub(crate) fn run(self) {
        let (c, mut news) = (&self.c, News::of_run(self.c.run));
        while !self.stop.load(Ordering::Acquire) {
            news.hear(&c.cluster, &c.book, Instant::now() + REREAD * 2, REREAD);
            while let Some((id, text)) = c.book.next_request() {
                if c.book.take_up(id) {
                    self.handle(&mut news, id, &text);
                }
                c.book.part_done(id);
            }
        }
    }

    fn handle(&self, news: &mut News, id: u64, text: &str) {
        let Some(request) = Request::decode(text) else {
            tracing::warn!(
                update = id,
                "a malformed request for an update spanning machines: {text:?}"
            );
            return;
        };
        if !request.machines.contains(&self.c.me) {
            return;
        }
        let mut part = Part {
            c: &self.c,
            news,
            id,
            members: self
                .c
                .members
                .iter()
                .filter(|m| request.machines.contains(&m.machine.name))
                .cloned()
                .collect(),
            machines: request.machines.clone(),
            region: request.region.clone(),
            shape: request
                .shapes
                .iter()
                .find(|(m, _)| *m == self.c.me)
                .map(|(_, d)| *d),
            deadline: Instant::now() + request.deadline,
            voted: false,
            asked: Instant::now(),
        };
        let outcome = match self.build(&request, part.deadline) {
            Err(why) => Err(part.refuse(&why)),
            Ok(update) => match self.part.update_spanning(update, &mut part) {
                Ok(report) => Ok(report.to_string()),
                Err(e) => {
                    if !part.voted {
                        part.refuse(&e.to_string());
                    }
                    if let UpdateError::InDoubt { .. } = e {
                        self.stopper
                            .halt(format!("update #{id} spanning machines: {e}"));
                    }
                    Err(e.to_string())
                }
            },
        };
        let said = match &outcome {
            Ok(report) => format!("ok\t{report}"),
            Err(why) => format!("err\t{why}"),
        };
        // With what this machine runs now, in one write: an asker that
        // hears every machine done reads every new arc.
        let c = &self.c;
        let key = c.key(id, &format!("done/{}", c.me));
        let done = [(key.as_str(), said.as_str())];
        let _ = status::publish(
            &c.cluster,
            &c.membership,
            &c.me,
            &self.part,
            &c.published,
            &done,
        );
    }

    /// This machine's part: the replacements of its instances the request
    /// names (none: it only passes markers on). The program's code builds
    /// it on a thread of its own, waited for until `deadline`: a build
    /// that hangs (a library load that never returns) refuses this update
    /// and leaves the participant free. The program builds one part at a
    /// time (its code may hold locks across a build): until that build
    /// returns, later updates are refused at once; a part it builds late is
    /// dropped on its thread.
    fn build(&self, request: &Request, deadline: Instant) -> Result<Update, String> {
        let Some(parts) = &self.parts else {
            let mine: HashSet<String> = self.part.instances().into_iter().map(|i| i.name).collect();
            return match request.replace.iter().find(|(i, _)| mine.contains(i)) {
                Some((instance, _)) => Err(format!(
                    "it cannot replace `{instance}`: its program gives no replacements (`Program::replacements`)"
                )),
                None => Ok(Update::new().deadline(request.deadline)),
            };
        };
        let mut building = self.building.borrow_mut();
        if building.as_ref().is_some_and(|b| !b.is_finished()) {
            return Err(
                "the build of an earlier update's part, past its deadline, has not returned yet (its program builds one part at a time)"
                    .to_owned(),
            );
        }
        let (parts, part, replace) = (parts.clone(), self.part.clone(), request.replace.clone());
        let (made_tx, made) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("evoflow-build-{}", self.c.me))
            .spawn(move || {
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    parts(&part, &replace)
                }));
                if made_tx
                    .send(built.map_err(|p| panic_text(p.as_ref())))
                    .is_err()
                {
                    tracing::warn!("a part built after its update's deadline was dropped");
                }
            });
        *building = match spawned {
            Ok(thread) => Some(thread),
            Err(e) => {
                return Err(format!(
                    "it could not start a thread to build its part: {e}"
                ))
            }
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        match made.recv_timeout(wait) {
            Ok(Ok(made)) => made.map(|u| u.deadline(request.deadline)),
            Ok(Err(panic)) => Err(format!("building this machine's part panicked: {panic}")),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "building its part took longer than the update's deadline of {:?} (left to finish on its own)",
                request.deadline
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err("building its part ended without an answer".to_owned())
            }
        }
    }
}

impl MachineRun {
    /// Applies `spanning` on every machine as one update: each machine
    /// builds its part with the program's [`Replacements`]; markers cross
    /// machines in-band; the decision is one etcd transaction. Either
    /// every machine installs its part,
    /// or none does and each keeps its old versions and state (also when
    /// a machine refuses, fails, is late or is lost before the decision).
    pub fn update_everywhere(&self, spanning: Spanning) -> Result<SpanningReport, MachineError> {
        let start = Instant::now();
        let refused = |why: String| Err(MachineError::SpanningRefused(why));
        let c = &self.coordination;
        self.publish()?;
        // Who runs what, and the arcs, as of one revision. A lagging read
        // costs no safety: each machine checks its arcs against what the
        // region was computed on, and refuses if they differ.
        let [status, published] = c.cluster.told_each(["status/", "arcs/"])?;
        let owner = status::owners(status)?;
        if spanning.replace.is_empty() {
            return refused("it names no instance to replace".into());
        }
        let mut changing = HashSet::new();
        for (instance, with) in &spanning.replace {
            if !owner.contains_key(instance) {
                let mut all: Vec<&String> = owner.keys().collect();
                all.sort();
                let all: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
                return refused(format!(
                    "no machine runs an instance `{instance}`; the instances are: {}",
                    all.join(", ")
                ));
            }
            if with.contains(['\t', '\n']) {
                return refused(format!(
                    "the replacement of `{instance}`, {with:?}, holds a tab or a newline"
                ));
            }
            if !changing.insert(instance.clone()) {
                return refused(format!("it replaces `{instance}` twice"));
            }
        }
        let (mut arcs, mut shapes) = (Vec::new(), Vec::new());
        for m in &self.machines {
            let Some((_, text)) = published.iter().find(|(k, _)| k == m) else {
                return refused(format!("machine `{m}` has not published its arcs yet"));
            };
            arcs.extend(status::parse_arcs(m, text)?);
            shapes.push((m.clone(), status::digest(text)));
        }
        let region = region(&changing, &arcs);
        let machines = self.machines.clone();
        let request = Request {
            deadline: spanning.deadline,
            machines: machines.clone(),
            shapes,
            region,
            replace: spanning.replace,
        };
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let key = format!("span/{}/request/{}/{n}", c.run, c.me);
        // What is said of it is kept for this asker until it returns.
        let _asking = Asking::new(&c.book, format!("{}/{n}", c.me));
        let created = match c.cluster.tell(&c.membership, &key, &request.encode()) {
            Ok(created) => created,
            // The write may have happened though its answer was lost: then
            // the machines take it up, and it must be followed (or aborted).
            Err(e) => match c.cluster.told_all(&key) {
                Ok(found) => match found.iter().find(|t| t.key.is_empty()) {
                    Some(t) => t.created,
                    None => return Err(e.into()),
                },
                Err(_) => return Err(e.into()),
            },
        };
        let id = SPANNING_IDS | created as u64;
        let until = Instant::now() + spanning.deadline + IN_DOUBT + FINISH;
        // Every participant says how its part ended — or, once the update
        // is decided, has left the graph (it will not say).
        let mut asked = Instant::now();
        let mut gone: Vec<String> = Vec::new();
        let said = loop {
            let (said, mark) = c.book.said_and_mark(id);
            let decided = said.decision.is_some();
            if machines
                .iter()
                .all(|m| said.done.contains_key(m) || (decided && gone.contains(m)))
                || Instant::now() >= until
            {
                break said;
            }
            if decided && asked.elapsed() >= REREAD * 5 {
                asked = Instant::now();
                if let Ok(now) = c.cluster.members() {
                    gone = machines
                        .iter()
                        .filter(|m| !now.iter().any(|n| &n.machine.name == *m))
                        .cloned()
                        .collect();
                }
            }
            c.book.wait(mark, until.min(Instant::now() + REREAD));
        };
        // Given up on undecided: abort it, so that no machine takes it up
        // later (a request replayed after a lost watch) and commits it.
        let decision = match said.decision {
            None => c.cluster.decide(id, &c.members, Decision::Abort).ok(),
            decided => decided,
        };
        // Every machine is done with it: what it left in etcd goes (a
        // machine that did not say keeps it there, for its sake).
        if decision.is_some() && machines.iter().all(|m| said.done.contains_key(m)) {
            c.cluster.forget(&[&c.key(id, "")], &[&key], id);
        }
        let outcome = |m: &str| match said.done.get(m) {
            Some(v) => match v.split_once('\t') {
                Some(("ok", report)) => Ok(report.to_owned()),
                Some((_, why)) => Err(why.to_owned()),
                None => Err(v.clone()),
            },
            None => Err("it did not say how its part ended (lost?)".to_owned()),
        };
        match decision {
            Some(Decision::Abort) => {
                // The first refusal, else the first failure a machine said.
                let votes = said.refusal();
                let why = votes
                    .or_else(|| machines.iter().find_map(|m| outcome(m).err()))
                    .unwrap_or_else(|| "aborted".to_owned());
                Err(MachineError::SpanningAborted { update: id, why })
            }
            decided => {
                let all: Vec<(String, Result<String, String>)> =
                    machines.iter().map(|m| (m.clone(), outcome(m))).collect();
                if decided.is_some() && all.iter().all(|(_, o)| o.is_ok()) {
                    return Ok(SpanningReport {
                        id,
                        machines: all
                            .into_iter()
                            .map(|(m, o)| (m, o.unwrap_or_default()))
                            .collect(),
                        duration: start.elapsed(),
                    });
                }
                let mut machines: Vec<(String, String)> = all
                    .into_iter()
                    .filter_map(|(m, o)| o.err().map(|why| (m, why)))
                    .collect();
                if decided.is_none() {
                    machines.push(("etcd".to_owned(), "no decision could be read".to_owned()));
                }
                Err(MachineError::SpanningUnfinished {
                    update: id,
                    machines,
                })
            }
        }
    }
}

/// An update asked on this machine, while its asker waits: what is said
/// of it is kept in the book until then.
struct Asking<'a> {
    book: &'a Book,
    /// After `request/`.
    key: String,
}

impl<'a> Asking<'a> {
    fn new(book: &'a Book, key: String) -> Self {
        book.asking(&key);
        Asking { book, key }
    }
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        self.book.asker_done(&self.key);
    }
}
