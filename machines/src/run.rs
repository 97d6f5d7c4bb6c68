//! Running one machine's part: join the graph in etcd, wait for every
//! machine, open the arcs to the others, run, and watch what the part
//! depends on — the other machines and the arcs to them. A lost machine
//! or a broken arc halts the part at once (without draining: what it
//! would wait for may never come), and its peers see their arcs to it
//! break in turn, so a loss stops the graph on every machine.

use crate::error::MachineError;
use crate::program::{Links, Program, Watched};
use crate::span::{Coordination, Participant};
use crate::status::{self, GraphStatus, MachineStatus};
use evoflow_cluster::{Cluster, ClusterError, Machine, Member, Membership};
use evoflow_net::{Endpoint, NetError};
use evoflow_runtime::{Report, Running, Stopper, Update, UpdateError, UpdateReport};
use std::collections::HashMap;
use std::hash::Hasher;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the monitor looks at the arcs (cheap: a few atomics).
const LOOK: Duration = Duration::from_millis(20);
/// How often it asks etcd who is still there.
const ASK: Duration = Duration::from_millis(250);

/// How a machine joins its graph: [`MachineConfig::new`], then set the
/// fields to change (more may come).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MachineConfig {
    /// etcd endpoints (`http://host:port`).
    pub etcd: Vec<String>,
    /// Where this machine listens for the arcs it receives (port 0 picks
    /// one).
    pub listen: SocketAddr,
    /// The address the other machines reach it at, if not `listen`'s.
    pub advertise: Option<SocketAddr>,
    /// The build fingerprint it registers; by default a hash of the
    /// running executable (every machine must run the same program).
    pub build: Option<String>,
    /// How long to wait for every machine to join; also how long an arc
    /// from another machine may wait for this one to build its part.
    pub join_timeout: Duration,
    /// How long `join` waits, once this part has finished, for the other
    /// machines to take what it sent (they may be slow; a lost one ends
    /// the wait at once).
    pub drain_timeout: Duration,
    /// Runs each of this machine's workers on a CPU of its own
    /// (`Graph::pin_workers`).
    pub pin_workers: bool,
}

impl MachineConfig {
    /// Joins through etcd at `etcd`, listening on `listen`.
    pub fn new(etcd: impl IntoIterator<Item = impl Into<String>>, listen: SocketAddr) -> Self {
        MachineConfig {
            etcd: etcd.into_iter().map(Into::into).collect(),
            listen,
            advertise: None,
            build: None,
            join_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(300),
            pin_workers: false,
        }
    }
}

/// A hash of the running executable: the same program on every machine.
fn build_fingerprint() -> Result<String, MachineError> {
    let read = || -> std::io::Result<u64> {
        let mut file = std::fs::File::open("/proc/self/exe")?;
        // SipHash with fixed keys: the same bytes hash alike in every process.
        let mut h = std::hash::DefaultHasher::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            match file.read(&mut buf)? {
                0 => return Ok(h.finish()),
                n => h.write(&buf[..n]),
            }
        }
    };
    read()
        .map(|h| format!("{h:016x}"))
        .map_err(|e| MachineError::Io("reading this program to fingerprint it".into(), e))
}

impl Program {
    /// Runs this program's part on `machine`: joins the graph in etcd,
    /// waits until every machine has joined, connects the arcs to the
    /// others and starts the part. Every machine runs the same program
    /// and calls this with its own name.
    pub fn run_on(self, machine: &str, config: &MachineConfig) -> Result<MachineRun, MachineError> {
        let names = self.names_with(machine)?;
        let endpoint = Endpoint::bind_waiting(config.listen, config.join_timeout)
            .map_err(|e| MachineError::Io(format!("listening on {}", config.listen), e))?;
        let addr = config.advertise.unwrap_or(endpoint.local_addr());
        if addr.ip().is_unspecified() {
            return Err(MachineError::NoAddress(addr));
        }
        let build = match &config.build {
            Some(b) => b.clone(),
            None => build_fingerprint()?,
        };
        let cluster = Cluster::connect(&config.etcd, &self.name)?;
        let me = Machine {
            name: machine.to_owned(),
            addr: addr.to_string(),
            build,
        };
        let deadline = Instant::now() + config.join_timeout;
        let membership = Arc::new(join(&cluster, &me, deadline)?);
        let (members, run) = agree(&cluster, &membership, &names, machine, deadline)?;
        // Past the barrier: see `MachineRun::shut`.
        cluster.tell(&membership, &format!("started/{run}/{machine}"), "")?;
        let mut peers = HashMap::new();
        for m in &members {
            let addr = m
                .machine
                .addr
                .parse()
                .map_err(|_| MachineError::BadAddress {
                    machine: m.machine.name.clone(),
                    addr: m.machine.addr.clone(),
                })?;
            peers.insert(m.machine.name.clone(), addr);
        }
        let mut links = Links {
            transport: &endpoint,
            peers,
            watched: Vec::new(),
        };
        let graph = match (self.build)(machine, &mut links) {
            Ok(graph) => graph,
            Err(e) => {
                // The others would see this machine leave, not why.
                let why = format!("its part could not be built: {e}");
                let _ = cluster.tell_lasting(&outcome_key(run, machine), &why, CAUSE_KEPT);
                return Err(e);
            }
        };
        let graph = if config.pin_workers {
            graph.pin_workers()
        } else {
            graph
        };
        let watched = links.watched;
        let running = graph.run()?;
        let stop = Arc::new(AtomicBool::new(false));
        let cluster = Arc::new(cluster);
        let coordination = Arc::new(Coordination {
            cluster: cluster.clone(),
            membership: membership.clone(),
            run,
            me: machine.to_owned(),
            members: members.clone(),
            published: Default::default(),
            book: Default::default(),
        });
        let participant = {
            let p = Participant {
                c: coordination.clone(),
                part: running.updater(),
                stopper: running.stopper(),
                parts: self.parts,
                stop: stop.clone(),
                building: Default::default(),
            };
            std::thread::Builder::new()
                .name(format!("evoflow-updates-{machine}"))
                .spawn(move || p.run())
                .map_err(|e| MachineError::Io("starting the update thread".into(), e))?
        };
        let monitor = {
            let watch = Watch {
                attach_within: config.join_timeout,
                membership: membership.clone(),
                cluster: cluster.clone(),
                run,
                members,
                me: machine.to_owned(),
                watched: watched.clone(),
                stopper: running.stopper(),
                stop: stop.clone(),
            };
            match std::thread::Builder::new()
                .name(format!("evoflow-monitor-{machine}"))
                .spawn(move || watch.run())
            {
                Ok(monitor) => monitor,
                Err(e) => {
                    // Nothing outlives the refusal: the update thread
                    // (which holds the membership) ends, the part halts.
                    stop.store(true, Ordering::Release);
                    let _ = participant.join();
                    running
                        .stopper()
                        .halt("the machine's monitor thread could not start");
                    let _ = running.join();
                    return Err(MachineError::Io("starting the monitor thread".into(), e));
                }
            }
        };
        let part = MachineRun {
            join_timeout: config.join_timeout,
            stop_told: std::sync::OnceLock::new(),
            drain_timeout: config.drain_timeout,
            machines: names,
            running: Some(running),
            watched,
            stop,
            monitor: Some(monitor),
            participant: Some(participant),
            coordination,
            requests: AtomicU64::new(0),
            endpoint: Some(endpoint),
            membership: Some(membership),
        };
        // etcd may be down by now: the status is published again by `status`.
        let _ = part.publish();
        Ok(part)
    }
}

/// Joins as `me`; while the name is held by a machine of the same build
/// — a process that crashed, whose lease has not run out yet — tries
/// again until `deadline`.
fn join(cluster: &Cluster, me: &Machine, deadline: Instant) -> Result<Membership, MachineError> {
    loop {
        match cluster.join(me) {
            Err(ClusterError::NameTaken { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            joined => return Ok(joined?),
        }
    }
}

/// Waits until every machine of `names` has joined and said it is ready
/// for the same run — named by the last incarnation among the members,
/// which every machine reads alike and no earlier set of members had (a
/// member that left and came back is a later incarnation). Then each
/// knows all the others, and none can finish and leave before the others
/// saw it join. A member replaced meanwhile (a crashed process's lease
/// ran out; the machine joined again) changes the members, and the run
/// with them. Gives the members and the run.
fn agree(
    cluster: &Cluster,
    member: &Membership,
    names: &[String],
    me: &str,
    deadline: Instant,
) -> Result<(Vec<Member>, i64), MachineError> {
    loop {
        let members = all_joined(cluster, names, deadline)?;
        let run = members.iter().map(|m| m.incarnation).max().unwrap_or(0);
        cluster.tell(member, &format!("ready/{run}/{me}"), "")?;
        loop {
            let ready = cluster.told(&format!("ready/{run}/"))?;
            let missing: Vec<String> = names
                .iter()
                .filter(|n| !ready.iter().any(|(k, _)| k == *n))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok((members, run));
            }
            if Instant::now() >= deadline {
                return Err(MachineError::NotJoined {
                    missing,
                    waited: deadline.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
            let now = cluster.members()?;
            if !members.iter().all(|m| now.contains(m)) {
                break;
            }
        }
    }
}

/// Waits until every machine of `names` has joined; the members then.
fn all_joined(
    cluster: &Cluster,
    names: &[String],
    deadline: Instant,
) -> Result<Vec<Member>, MachineError> {
    let start = Instant::now();
    loop {
        let members = cluster.members()?;
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !members.iter().any(|m| &m.machine.name == *n))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(members
                .into_iter()
                .filter(|m| names.contains(&m.machine.name))
                .collect());
        }
        if Instant::now() >= deadline {
            return Err(MachineError::NotJoined {
                missing,
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long a machine that saw an arc fail waits to read why its peer
/// stopped: the peer closed the stream itself (its part failed and says
/// why, through etcd, which may be slow under load) …
const CAUSE_WAIT: Duration = Duration::from_secs(3);
/// … or the stream broke (the peer died or was cut off, and says nothing
/// unless it was halted by a loss of its own).
const CAUSE_WAIT_BROKEN: Duration = Duration::from_millis(200);
/// How long why a part failed stays in etcd once it has left. The
/// monitor tells it under the machine's lease at once (one write, before
/// the part halts); that goes when the machine leaves, which may be
/// before the others, who read it only once they saw their arcs break,
/// do — so `join` and a failed start tell it again under a lease of its
/// own.
const CAUSE_KEPT: Duration = Duration::from_secs(10);

/// Where a machine tells why its part of run `run` failed.
fn outcome_key(run: i64, machine: &str) -> String {
    format!("outcome/{run}/{machine}")
}

/// Why `machine` stopped, as it told (a panic there, a loss it saw), if
/// it does within `wait`.
fn told_outcome(cluster: &Cluster, run: i64, machine: &str, wait: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Ok(told) = cluster.told(&outcome_key(run, machine)) {
            if let Some((_, why)) = told.into_iter().find(|(rest, _)| rest.is_empty()) {
                return Some(why);
            }
        }
        if start.elapsed() >= wait {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Why an arc stopped, if it failed (a receiver that closed after the
/// end it sent is no failure).
fn failure(w: &Watched) -> Option<NetError> {
    w.broken
        .get()
        .cloned()
        .or_else(|| w.health.failure())
        .filter(|e| !(w.cut.outgoing && *e == NetError::Closed && w.health.finished()))
}

/// What the monitor watches, and how it acts.
struct Watch {
    /// How long an arc from another machine may take to connect.
    attach_within: Duration,
    membership: Arc<Membership>,
    cluster: Arc<Cluster>,
    run: i64,
    members: Vec<Member>,
    me: String,
    watched: Vec<Watched>,
    stopper: Stopper,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Watches the arcs and the other machines until `stop`; halts the
    /// part on the first loss, naming the machine and the cause, and stops
    /// it when another machine asked the graph to stop.
    fn run(self) {
        let Watch {
            attach_within,
            membership,
            cluster,
            run,
            members,
            me,
            watched,
            stopper,
            stop,
        } = self;
        let (mut asked, started) = (Instant::now(), Instant::now());
        let mut stopped = false;
        // The others learn why this part fails (a panic here, a loss
        // seen here) before its arcs break under them.
        let outcome = outcome_key(run, &me);
        let mut told = false;
        let mut tell = |why: &str| {
            if !told {
                told = cluster.tell(&membership, &outcome, why).is_ok();
            }
        };
        while !stop.load(Ordering::Acquire) {
            if let Some(why) = stopper.failure() {
                tell(&why);
            }
            let late = started.elapsed() > attach_within;
            if let Some(w) = watched.iter().find(|w| late && !w.health.attached()) {
                let why = format!(
                    "machine `{}` never connected the arc {} within {attach_within:?}: is its part stuck?",
                    w.cut.peer, w.cut.label
                );
                tell(&format!("halted: {why}"));
                stopper.halt(why);
                return;
            }
            if let Some((w, e)) = watched.iter().find_map(|w| failure(w).map(|e| (w, e))) {
                let (dir, m) = (if w.cut.outgoing { "to" } else { "from" }, &w.cut.peer);
                let wait = match e {
                    NetError::Closed | NetError::Truncated => CAUSE_WAIT,
                    _ => CAUSE_WAIT_BROKEN,
                };
                let why = match told_outcome(&cluster, run, m, wait) {
                    Some(cause) => format!("machine `{m}` stopped: {cause}"),
                    None => format!(
                        "machine `{m}` is lost to `{me}`: the arc {} {dir} it failed: {e}",
                        w.cut.label
                    ),
                };
                tell(&format!("halted: {why}"));
                stopper.halt(why);
                return;
            }
            if asked.elapsed() >= ASK {
                asked = Instant::now();
                let asked = cluster.told(&format!("stop/{run}"));
                if !stopped && asked.is_ok_and(|a| a.iter().any(|(rest, _)| rest.is_empty())) {
                    stopper.stop();
                    stopped = true;
                }
                // etcd down is no loss: the data does not go through it.
                if let Ok(now) = cluster.members() {
                    for m in members.iter().filter(|m| m.machine.name != me) {
                        let still = now.iter().any(|n| n == m);
                        // A machine whose arcs with this one have all ended may
                        // leave: it finished its part.
                        let needed = watched
                            .iter()
                            .any(|w| w.cut.peer == m.machine.name && !w.health.finished());
                        if !still && needed {
                            let why = format!(
                                "machine `{}` left the graph (its etcd lease ended: it died, froze or was cut off)",
                                m.machine.name
                            );
                            tell(&format!("halted: {why}"));
                            stopper.halt(why);
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(LOOK);
        }
    }
}

/// This machine's part of a running graph.
pub struct MachineRun {
    join_timeout: Duration,
    /// When this machine told the others to stop.
    stop_told: std::sync::OnceLock<Instant>,
    drain_timeout: Duration,
    /// The graph's machines, in the order `graph!` lists them.
    pub(crate) machines: Vec<String>,
    running: Option<Running>,
    watched: Vec<Watched>,
    stop: Arc<AtomicBool>,
    monitor: Option<JoinHandle<()>>,
    /// Takes part in updates spanning machines.
    participant: Option<JoinHandle<()>>,
    /// This machine, its graph's entry in etcd and its run (shared with
    /// the thread that takes part in updates spanning machines).
    pub(crate) coordination: Arc<Coordination>,
    /// Requests for spanning updates made here so far.
    pub(crate) requests: AtomicU64,
    endpoint: Option<Endpoint>,
    membership: Option<Arc<Membership>>,
}

impl MachineRun {
    /// The running part: stop it, inspect it, update the instances that
    /// have no arc to another machine.
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("until join")
    }

    /// This part's arcs to and from other machines.
    pub fn cut(&self) -> Vec<crate::Cut> {
        self.watched.iter().map(|w| w.cut.clone()).collect()
    }

    /// Applies `update` to this machine's part (as [`Running::update`]),
    /// then publishes the new versions for [`MachineRun::status`].
    pub fn update(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        let report = self.running().update(update)?;
        // The update is done either way; a status that could not be
        // published is published again by the next `status`.
        let _ = self.publish();
        Ok(report)
    }

    /// Every machine of the graph with its instances and their versions,
    /// as each last published them (this one publishes first).
    pub fn status(&self) -> Result<GraphStatus, MachineError> {
        self.publish()?;
        let members = self.coordination.cluster.members()?;
        let published = self.coordination.cluster.told("status/")?;
        let machines = self
            .machines
            .iter()
            .map(|m| {
                let text = published.iter().find(|(n, _)| n == m).map(|(_, t)| t);
                Ok(MachineStatus {
                    machine: m.clone(),
                    addr: members
                        .iter()
                        .find(|x| &x.machine.name == m)
                        .map(|x| x.machine.addr.clone()),
                    instances: match text {
                        Some(t) => status::decode(m, t)?,
                        None => Vec::new(),
                    },
                })
            })
            .collect::<Result<_, MachineError>>()?;
        Ok(GraphStatus(machines))
    }

    pub(crate) fn publish(&self) -> Result<(), MachineError> {
        let Some(member) = &self.membership else {
            return Ok(());
        };
        status::publish(
            &self.coordination.cluster,
            member,
            &self.coordination.me,
            &self.running().updater(),
            &self.coordination.published,
            &[],
        )
    }

    /// Stops the graph on every machine: their sources are not called
    /// again and the graph drains, across machines, as a one-machine
    /// graph's [`Running::stop`] (which, called on one part, stops only
    /// that part's sources). The other machines hear of it through etcd
    /// within a quarter second.
    pub fn stop(&self) -> Result<(), MachineError> {
        self.running().stop();
        if let Some(member) = &self.membership {
            self.coordination.cluster.tell(
                member,
                &format!("stop/{}", self.coordination.run),
                "",
            )?;
            let _ = self.stop_told.set(Instant::now());
        }
        Ok(())
    }

    /// Waits for the part to finish (its sources done and drained, or
    /// stopped, or halted), then until the other machines have taken all it
    /// sent them (at most `drain_timeout`; a failed arc ends the wait), and
    /// leaves the graph. What they could not take is an error: leaving
    /// earlier would cut them off.
    pub fn join(mut self) -> Result<Report, MachineError> {
        let report = self.running.take().expect("joined once").join();
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                // The monitor may not have seen it (the panic is taken out
                // by `join`): the others learn why from here.
                if self.membership.is_some() {
                    let outcome = outcome_key(self.coordination.run, &self.coordination.me);
                    let _ = self.coordination.cluster.tell_lasting(
                        &outcome,
                        &e.to_string(),
                        CAUSE_KEPT,
                    );
                }
                self.shut();
                return Err(MachineError::Run(e));
            }
        };
        let start = Instant::now();
        let unfinished = |w: &&Watched| w.cut.outgoing && !w.health.finished();
        while start.elapsed() < self.drain_timeout
            && self
                .watched
                .iter()
                .any(|w| unfinished(&w) && failure(w).is_none())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let undelivered: Vec<String> = self
            .watched
            .iter()
            .filter(unfinished)
            .map(|w| match failure(w) {
                Some(e) => format!("{} to `{}`: {e}", w.cut.label, w.cut.peer),
                None => format!(
                    "{} to `{}`: not taken within {:?}",
                    w.cut.label, w.cut.peer, self.drain_timeout
                ),
            })
            .collect();
        // The request to stop lives as long as this membership: stay until
        // every monitor has had time to read it.
        if let Some(told) = self.stop_told.get() {
            std::thread::sleep((ASK * 2).saturating_sub(told.elapsed()));
        }
        self.shut();
        if undelivered.is_empty() {
            Ok(report)
        } else {
            Err(MachineError::Undelivered(undelivered))
        }
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in [self.monitor.take(), self.participant.take()] {
            let _ = t.map(JoinHandle::join);
        }
        // The transport first: the peers' arcs break at once, and they halt.
        self.endpoint.take();
        // A part that finished at once must not leave before every machine
        // is past the barrier: one still at it would miss this one's
        // `ready` (it goes with the lease) and wait for it in vain.
        let prefix = format!("started/{}/", self.coordination.run);
        let deadline = Instant::now() + self.join_timeout;
        let waiting = |started: &[(String, String)], members: &[Member]| {
            self.machines.iter().any(|m| {
                !started.iter().any(|(k, _)| k == m) && members.iter().any(|x| &x.machine.name == m)
            })
        };
        while Instant::now() < deadline {
            match (
                self.coordination.cluster.told(&prefix),
                self.coordination.cluster.members(),
            ) {
                (Ok(started), Ok(members)) if waiting(&started, &members) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => break,
            }
        }
        self.membership.take();
    }
}

impl Drop for MachineRun {
    /// Halts this part without draining (unlike dropping a one-machine
    /// `Running`, which stops it and lets it drain): what it would drain
    /// may come from other machines, which are not waited for here. Its
    /// arcs break, so the other machines halt too. Call `stop` and `join`
    /// to end a graph cleanly.
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stopper().halt("the machine's run was dropped");
            let _ = r.join();
        }
        self.shut();
    }
}
