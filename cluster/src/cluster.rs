//! The etcd side: membership under leases, decisions by create-if-absent
//! transactions.

use crate::error::ClusterError;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, KeyValue,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions, WatchResponse, WatchStream,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// How long a machine that stopped renewing its lease stays a member
/// (etcd counts leases in seconds). Renewed every quarter of it.
pub const LEASE: Duration = Duration::from_secs(2);
/// The longest any etcd request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A machine of the graph, as it registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Its name in `graph!` (`machines = { front: 1, back: 2 }`).
    pub name: String,
    /// Where its arcs' streams reach it (`host:port`).
    pub addr: String,
    /// Its build's fingerprint: every machine must run the same build.
    pub build: String,
}

/// A machine as a member: which incarnation of its name it is. A machine
/// that left (or died) and joined again under the same name is another
/// member: an update prepared with the first cannot commit with the
/// second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The machine.
    pub machine: Machine,
    /// The etcd revision at which it joined.
    pub incarnation: i64,
}

/// The outcome of an update, the same for every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Every machine applies it.
    Commit,
    /// Every machine stays on its old versions and state.
    Abort,
}

/// What the machines tell under a prefix, as it comes
/// ([`Cluster::listen`]).
pub struct Listening {
    prefix: String,
    stream: WatchStream,
}

/// What was told and decided, as [`Cluster::listen`] and
/// [`Cluster::heard`] give it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// The keys told.
    pub told: Vec<Told>,
    /// The decisions taken: update, decision.
    pub decided: Vec<(u64, Decision)>,
}

/// A key a machine told, as [`Cluster::heard`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Told {
    /// The key, the listened prefix cut off.
    pub key: String,
    /// Its value.
    pub value: String,
    /// The store's revision that created the key (unique to it).
    pub created: i64,
}

/// The graph's entry in etcd.
pub struct Cluster {
    /// Shared with the memberships joined through it, which renew and
    /// revoke their leases on it and may outlive it.
    runtime: Arc<Runtime>,
    client: Client,
    graph: String,
}

/// This machine's membership: renewed in the background while it lives;
/// left (its lease revoked) when dropped. Dropping it waits for etcd (a
/// few seconds at most) and may shut down the runtime it shares with its
/// `Cluster`: drop it on a plain thread, not inside async code.
pub struct Membership {
    /// Stops the renewals; the lease is revoked, then `done` is told.
    stop: Option<oneshot::Sender<std::sync::mpsc::Sender<()>>>,
    lease: i64,
    lost: Arc<Mutex<Option<String>>>,
    /// Where the renewals run: kept until the lease is revoked (the
    /// `Cluster` may be gone first).
    _runtime: Arc<Runtime>,
}

impl Membership {
    /// Why this machine may no longer be a member, if it may not: etcd
    /// could not be reached to renew its lease for as long as the lease
    /// lasts (the others may see it gone; renewing goes on, and a lease
    /// etcd kept — as across an etcd restart — is a membership again), or
    /// etcd expired the lease (for good: its name is then free for another
    /// process, and the machine must join again to come back).
    pub fn lost(&self) -> Option<String> {
        lock(&self.lost).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renews `lease` every quarter of [`LEASE`] until `stopped` (then revokes
/// it). A failed renewal is tried again — with a new keep-alive stream,
/// so an etcd restart is ridden out — and a lease unrenewed for [`LEASE`]
/// is reported `lost` until it is renewed again; one that etcd says
/// expired is lost for good.
async fn renew(
    mut client: Client,
    lease: i64,
    mut stopped: oneshot::Receiver<std::sync::mpsc::Sender<()>>,
    lost: Arc<Mutex<Option<String>>>,
) {
    let mut stream = None;
    let mut renewed = tokio::time::Instant::now();
    let why = loop {
        tokio::select! {
            done = &mut stopped => {
                let _ = tokio::time::timeout(TIMEOUT, client.lease_revoke(lease)).await;
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            _ = tokio::time::sleep(LEASE / 4) => {}
        }
        let once = async {
            if stream.is_none() {
                stream = Some(client.lease_keep_alive(lease).await?);
            }
            let (keeper, answers) = stream.as_mut().expect("just made");
            keeper.keep_alive().await?;
            Ok::<_, etcd_client::Error>(answers.message().await?.map(|a| a.ttl()))
        };
        match tokio::time::timeout(LEASE / 2, once).await {
            Ok(Ok(Some(ttl))) if ttl > 0 => {
                renewed = tokio::time::Instant::now();
                lock(&lost).take();
            }
            Ok(Ok(_)) => break "etcd expired the lease".to_owned(),
            Ok(Err(_)) | Err(_) => {
                stream = None;
                if renewed.elapsed() >= LEASE {
                    lock(&lost).get_or_insert_with(|| {
                        format!("etcd could not renew the lease for {LEASE:?}")
                    });
                }
            }
        }
    };
    *lock(&lost) = Some(why);
}

impl Drop for Membership {
    /// Leaves: revokes the lease, and waits for that (at most the etcd
    /// timeout), so that the name is free when the drop returns — a
    /// machine restarted at once is not refused as taken.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let (done, revoked) = std::sync::mpsc::channel();
            if stop.send(done).is_ok() {
                // A renewal under way (at most half a lease) finishes
                // before the revoke (at most the etcd timeout) starts.
                let _ = revoked.recv_timeout(LEASE / 2 + TIMEOUT + Duration::from_millis(500));
            }
        }
    }
}

impl Cluster {
    /// Connects to etcd at `endpoints` (`http://host:port`) for `graph`.
    pub fn connect(endpoints: &[String], graph: &str) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("evoflow-cluster")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Malformed(format!("cannot start a runtime: {e}")))?;
        let options = ConnectOptions::new()
            .with_connect_timeout(TIMEOUT)
            .with_timeout(TIMEOUT);
        let client = runtime.block_on(Client::connect(endpoints, Some(options)))?;
        Ok(Cluster {
            runtime: Arc::new(runtime),
            client,
            graph: graph.to_owned(),
        })
    }

    fn machines_prefix(&self) -> String {
        format!("/evoflow/{}/machines/", self.graph)
    }

    fn member_key(&self, machine: &str) -> String {
        format!("{}{machine}", self.machines_prefix())
    }

    fn graph_prefix(&self) -> String {
        format!("/evoflow/{}/", self.graph)
    }

    fn decisions_prefix(&self) -> String {
        format!("{}decisions/", self.graph_prefix())
    }

    fn decision_key(&self, update: u64) -> String {
        format!("{}{update}", self.decisions_prefix())
    }

    /// Where what the machines tell under `rest` (a key or a prefix) is.
    fn told_key(&self, rest: &str) -> String {
        format!("/evoflow/{}/told/{rest}", self.graph)
    }

    /// The machines that have joined and whose leases are alive.
    pub fn machines(&self) -> Result<Vec<Machine>, ClusterError> {
        self.members()
            .map(|m| m.into_iter().map(|m| m.machine).collect())
    }

    /// The members: the machines, each with its incarnation (what an
    /// update's participants are taken as when it is prepared).
    pub fn members(&self) -> Result<Vec<Member>, ClusterError> {
        self.machines_at().map(|(members, _)| members)
    }

    /// The members, and the store's revision they were read at.
    fn machines_at(&self) -> Result<(Vec<Member>, i64), ClusterError> {
        let mut client = self.client.clone();
        let prefix = self.machines_prefix();
        let found = self
            .runtime
            .block_on(client.get(prefix.clone(), Some(GetOptions::new().with_prefix())))?;
        let revision = found.header().map_or(0, |h| h.revision());
        let machines = found
            .kvs()
            .iter()
            .map(|kv| {
                let name = kv.key_str().map_err(ClusterError::from)?;
                let name = name.strip_prefix(&prefix).unwrap_or(name).to_owned();
                let value = kv.value_str().map_err(ClusterError::from)?;
                let (addr, build) = value
                    .split_once('\n')
                    .ok_or_else(|| ClusterError::Malformed(format!("machine {name}: {value:?}")))?;
                Ok(Member {
                    machine: Machine {
                        name,
                        addr: addr.to_owned(),
                        build: build.to_owned(),
                    },
                    incarnation: kv.create_revision(),
                })
            })
            .collect::<Result<Vec<_>, ClusterError>>()?;
        Ok((machines, revision))
    }

    /// Registers `me` under a lease of its own, renewed in the background.
    /// Refused if its name is held by a live machine, or if the machines
    /// already joined run another build. The check and the registration
    /// are one transaction (it fails if any machine joined in between,
    /// and the join starts over), so two machines of different builds
    /// joining at once cannot both get in.
    pub fn join(&self, me: &Machine) -> Result<Membership, ClusterError> {
        let mut client = self.client.clone();
        let runtime = &self.runtime;
        let key = self.member_key(&me.name);
        let value = format!("{}\n{}", me.addr, me.build);
        let lease = runtime
            .block_on(client.lease_grant(LEASE.as_secs() as i64, None))?
            .id();
        let revoker = client.clone();
        let refused = |e: ClusterError| {
            let _ = runtime.block_on(revoker.clone().lease_revoke(lease));
            Err(e)
        };
        let mut attempts = 0;
        loop {
            let (joined, revision) = match self.machines_at() {
                Ok(read) => read,
                Err(e) => return refused(e),
            };
            let mut joined = joined.iter().map(|m| &m.machine);
            if let Some(m) = joined.clone().find(|m| m.name == me.name) {
                return refused(ClusterError::NameTaken {
                    machine: me.name.clone(),
                    holder: m.addr.clone(),
                });
            }
            if let Some(m) = joined.find(|m| m.build != me.build) {
                return refused(ClusterError::OtherBuild {
                    machine: me.name.clone(),
                    build: me.build.clone(),
                    joined: m.name.clone(),
                    expected: m.build.clone(),
                });
            }
            // Only if no machine joined (or changed) since the read.
            let unchanged =
                Compare::mod_revision(self.machines_prefix(), CompareOp::Less, revision + 1)
                    .with_prefix();
            let claim = Txn::new().when([unchanged]).and_then([TxnOp::put(
                key.clone(),
                value.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )]);
            match runtime.block_on(client.txn(claim)) {
                Ok(r) if r.succeeded() => break,
                Ok(_) if attempts < 20 => attempts += 1,
                Ok(_) => {
                    return refused(ClusterError::Malformed(
                        "the membership kept changing while joining (20 attempts)".into(),
                    ))
                }
                Err(e) => return refused(e.into()),
            }
        }
        let lost = Arc::new(Mutex::new(None));
        let (stop, stopped) = oneshot::channel();
        runtime.spawn(renew(client, lease, stopped, lost.clone()));
        Ok(Membership {
            lease,
            stop: Some(stop),
            lost,
            _runtime: self.runtime.clone(),
        })
    }

    /// The decision of `update`, taken now if nobody has yet: `propose`
    /// (a commit only if every one of `participants` — as they were when
    /// the update was prepared — is still a member, the same incarnation,
    /// else an abort). Returns the decision every machine reads, which
    /// may be another proposer's.
    pub fn decide(
        &self,
        update: u64,
        participants: &[Member],
        propose: Decision,
    ) -> Result<Decision, ClusterError> {
        let mut client = self.client.clone();
        let key = self.decision_key(update);
        let absent = || Compare::create_revision(key.clone(), CompareOp::Equal, 0);
        let read = || TxnOp::get(key.clone(), None);
        let runtime = &self.runtime;
        if propose == Decision::Commit {
            let mut when = vec![absent()];
            when.extend(participants.iter().map(|p| {
                Compare::create_revision(
                    self.member_key(&p.machine.name),
                    CompareOp::Equal,
                    p.incarnation,
                )
            }));
            let txn = Txn::new()
                .when(when)
                .and_then([TxnOp::put(key.clone(), "commit", None)])
                .or_else([read()]);
            let r = runtime.block_on(client.txn(txn))?;
            if r.succeeded() {
                return Ok(Decision::Commit);
            }
            if let Some(d) = first_value(&r.op_responses()) {
                return parse(&d);
            }
            // Absent, so a participant is gone: abort.
        }
        let txn = Txn::new()
            .when([absent()])
            .and_then([TxnOp::put(key.clone(), "abort", None)])
            .or_else([read()]);
        let r = runtime.block_on(client.txn(txn))?;
        if r.succeeded() {
            return Ok(Decision::Abort);
        }
        let d = first_value(&r.op_responses())
            .ok_or_else(|| ClusterError::Malformed(format!("{key} vanished")))?;
        parse(&d)
    }

    /// Tells `value` at `key` ([`Cluster::tell`]) — a vote — and, in the
    /// same write, commits `update` if every key of `others` holds the
    /// same value already, nobody decided yet and every one of
    /// `participants` is still a member (as [`Cluster::decide`]). Returns
    /// whether this write committed it: the last vote decides without
    /// another round to etcd.
    pub fn vote_and_decide(
        &self,
        member: &Membership,
        key: &str,
        value: &str,
        others: &[String],
        update: u64,
        participants: &[Member],
    ) -> Result<bool, ClusterError> {
        let mut client = self.client.clone();
        let told = |k: &str| self.told_key(k);
        let decision = self.decision_key(update);
        let mut when = vec![Compare::create_revision(
            decision.clone(),
            CompareOp::Equal,
            0,
        )];
        when.extend(
            others
                .iter()
                .map(|k| Compare::value(told(k), CompareOp::Equal, value)),
        );
        when.extend(participants.iter().map(|p| {
            Compare::create_revision(
                self.member_key(&p.machine.name),
                CompareOp::Equal,
                p.incarnation,
            )
        }));
        let vote = || {
            let options = PutOptions::new().with_lease(member.lease);
            TxnOp::put(told(key), value, Some(options))
        };
        let txn = Txn::new()
            .when(when)
            .and_then([vote(), TxnOp::put(decision, "commit", None)])
            .or_else([vote()]);
        Ok(self.runtime.block_on(client.txn(txn))?.succeeded())
    }

    /// Writes `value` at `key` (under the graph's prefix) for as long as
    /// `member`'s lease lives: what a machine tells the others — its
    /// status, that it is ready, a request to stop. Gone when it leaves.
    /// Returns the store's revision after the write: unique to it, and the
    /// same for every reader.
    pub fn tell(&self, member: &Membership, key: &str, value: &str) -> Result<i64, ClusterError> {
        self.tell_all(member, &[(key, value)])
    }

    /// Tells `key` for `ttl` under a lease of its own, not the machine's:
    /// it outlives the machine's leaving (whose lease takes its keys with
    /// it), for the others to read after they saw it go.
    pub fn tell_lasting(&self, key: &str, value: &str, ttl: Duration) -> Result<i64, ClusterError> {
        let mut client = self.client.clone();
        let lease = self
            .runtime
            .block_on(client.lease_grant(ttl.as_secs().max(1) as i64, None))?
            .id();
        self.tell_under(lease, &[(key, value)])
    }

    /// Tells several keys at once, in one write ([`Cluster::tell`]).
    pub fn tell_all(
        &self,
        member: &Membership,
        told: &[(&str, &str)],
    ) -> Result<i64, ClusterError> {
        self.tell_under(member.lease, told)
    }

    /// Writes `told` in one transaction, each key under `lease`; the
    /// store's revision after it.
    fn tell_under(&self, lease: i64, told: &[(&str, &str)]) -> Result<i64, ClusterError> {
        let mut client = self.client.clone();
        let puts = told.iter().map(|(key, value)| {
            TxnOp::put(
                self.told_key(key),
                *value,
                Some(PutOptions::new().with_lease(lease)),
            )
        });
        let txn = Txn::new().and_then(puts.collect::<Vec<_>>());
        let done = self.runtime.block_on(client.txn(txn))?;
        Ok(done.header().map_or(0, |h| h.revision()))
    }

    /// What was told under each of `prefixes` ([`Cluster::told`]), read
    /// at one revision in one request, from the etcd member asked
    /// (serializable: no round through the leader, so it may lag what the
    /// cluster has committed — callers must bear an old answer).
    pub fn told_each<const N: usize>(
        &self,
        prefixes: [&str; N],
    ) -> Result<[Vec<(String, String)>; N], ClusterError> {
        let mut client = self.client.clone();
        let prefixes = prefixes.map(|p| self.told_key(p));
        let reads: Vec<TxnOp> = prefixes
            .iter()
            .map(|p| {
                TxnOp::get(
                    p.clone(),
                    Some(GetOptions::new().with_prefix().with_serializable()),
                )
            })
            .collect();
        let r = self
            .runtime
            .block_on(client.txn(Txn::new().and_then(reads)))?;
        let found: [Vec<KeyValue>; N] = gets(&r.op_responses())?;
        let mut told = Vec::with_capacity(N);
        for (kvs, prefix) in found.iter().zip(&prefixes) {
            let kvs = kvs
                .iter()
                .map(|kv| told_kv(prefix, kv).map(|t| (t.key, t.value)));
            told.push(kvs.collect::<Result<Vec<_>, _>>()?);
        }
        Ok(told.try_into().expect("one a prefix"))
    }

    /// Listens to what the machines tell under `prefix` and to every
    /// decision, and reads what was told and decided before: nothing falls
    /// between. [`Cluster::heard`] waits for what comes next.
    ///
    /// One watch on the graph's keys, kept to those: what one transaction
    /// wrote comes in one piece (a vote with the decision it took). The
    /// watch starts at the present, once etcd has said it exists, and the
    /// read follows: a watch from a past revision would have etcd catch it
    /// up in the background, up to 100 ms late. What both the read and
    /// the watch give is given twice.
    pub fn listen(&self, prefix: &str) -> Result<(Listening, Heard), ClusterError> {
        let mut client = self.client.clone();
        let prefix = self.told_key(prefix);
        let decisions = self.decisions_prefix();
        let mut heard = Heard::default();
        let graph = Some(WatchOptions::new().with_prefix());
        let stream = self.runtime.block_on(async {
            let mut stream = client.watch(self.graph_prefix(), graph).await?;
            loop {
                let next = tokio::time::timeout(TIMEOUT, stream.message()).await;
                let response = next
                    .map_err(|_| ClusterError::Malformed("etcd did not start the watch".into()))?
                    .map_err(ClusterError::from)?
                    .ok_or_else(|| ClusterError::Malformed("the watch ended".into()))?;
                self.take_events(&prefix, &response, &mut heard)?;
                if response.created() {
                    break Ok::<_, ClusterError>(stream);
                }
            }
        })?;
        let read = Txn::new().and_then([
            TxnOp::get(prefix.clone(), all_keys()),
            TxnOp::get(decisions, all_keys()),
        ]);
        let r = self.runtime.block_on(client.txn(read))?;
        let [told, decided] = gets(&r.op_responses())?;
        for kv in &told {
            heard.told.push(told_kv(&prefix, kv)?);
        }
        for kv in &decided {
            heard.decided.extend(self.decided_kv(kv)?);
        }
        Ok((Listening { prefix, stream }, heard))
    }

    /// What was told and decided since the last call ([`Cluster::listen`])
    /// — each key told (the prefix cut off), value and the revision that
    /// created it — waiting at most `wait` for something. Empty if nothing
    /// came. An error (etcd restarted, say) ends the listening: listen
    /// again, which reads what was missed.
    pub fn heard(&self, l: &mut Listening, wait: Duration) -> Result<Heard, ClusterError> {
        let next = self
            .runtime
            .block_on(async { tokio::time::timeout(wait, l.stream.message()).await });
        let Ok(next) = next else {
            return Ok(Heard::default());
        };
        let Some(response) = next? else {
            return Err(ClusterError::Malformed("the watch ended".into()));
        };
        let mut heard = Heard::default();
        self.take_events(&l.prefix, &response, &mut heard)?;
        Ok(heard)
    }

    /// Adds what a watch response tells to `heard`.
    fn take_events(
        &self,
        prefix: &str,
        response: &WatchResponse,
        heard: &mut Heard,
    ) -> Result<(), ClusterError> {
        if response.canceled() {
            return Err(ClusterError::Malformed("etcd cancelled the watch".into()));
        }
        let puts = response
            .events()
            .iter()
            .filter(|e| e.event_type() == EventType::Put);
        for kv in puts.filter_map(|e| e.kv()) {
            if kv.key().starts_with(prefix.as_bytes()) {
                heard.told.push(told_kv(prefix, kv)?);
            } else {
                heard.decided.extend(self.decided_kv(kv)?);
            }
        }
        Ok(())
    }

    /// A decision's key and value as (update, decision); `None` for
    /// another key.
    fn decided_kv(&self, kv: &KeyValue) -> Result<Option<(u64, Decision)>, ClusterError> {
        let key = kv.key_str()?;
        let Some(update) = key.strip_prefix(&self.decisions_prefix()) else {
            return Ok(None);
        };
        let update = update
            .parse()
            .map_err(|_| ClusterError::Malformed(format!("decision key {key:?}")))?;
        Ok(Some((update, parse(kv.value_str()?)?)))
    }

    /// Deletes, in one write, the keys told under each of `prefixes`, each
    /// of `keys` (exactly that key) and the decision of `update`: what an
    /// update left once every machine is done with it. Returns at once:
    /// nobody waits for the write. If it fails (logged), or the process
    /// ends first, the keys stay, under a run that is over or an update
    /// that is.
    pub fn forget(&self, prefixes: &[&str], keys: &[&str], update: u64) {
        let mut client = self.client.clone();
        let under =
            |p: &&str| TxnOp::delete(self.told_key(p), Some(DeleteOptions::new().with_prefix()));
        let exactly = |k: &&str| TxnOp::delete(self.told_key(k), None);
        let mut deletes: Vec<TxnOp> = prefixes.iter().map(under).collect();
        deletes.extend(keys.iter().map(exactly));
        deletes.push(TxnOp::delete(self.decision_key(update), None));
        self.runtime.spawn(async move {
            if let Err(e) = client.txn(Txn::new().and_then(deletes)).await {
                tracing::warn!(update, "could not delete what an update left in etcd: {e}");
            }
        });
    }

    /// The decision of `update`, if one was taken ([`Cluster::decide`]).
    pub fn decision(&self, update: u64) -> Result<Option<Decision>, ClusterError> {
        let mut client = self.client.clone();
        let found = self
            .runtime
            .block_on(client.get(self.decision_key(update), None))?;
        match found.kvs().first() {
            Some(kv) => parse(kv.value_str()?).map(Some),
            None => Ok(None),
        }
    }

    /// What the machines told under `prefix` ([`Cluster::tell`]): each
    /// key, the prefix cut off, with its value.
    pub fn told(&self, prefix: &str) -> Result<Vec<(String, String)>, ClusterError> {
        let all = self.told_all(prefix)?;
        Ok(all.into_iter().map(|t| (t.key, t.value)).collect())
    }

    /// As [`Cluster::told`], with the revision that created each key.
    pub fn told_all(&self, prefix: &str) -> Result<Vec<Told>, ClusterError> {
        let mut client = self.client.clone();
        let prefix = self.told_key(prefix);
        let found = self
            .runtime
            .block_on(client.get(prefix.clone(), Some(GetOptions::new().with_prefix())))?;
        found.kvs().iter().map(|kv| told_kv(&prefix, kv)).collect()
    }
}

/// A key told under `prefix`, the prefix cut off.
fn told_kv(prefix: &str, kv: &KeyValue) -> Result<Told, ClusterError> {
    let key = kv.key_str()?;
    Ok(Told {
        key: key.strip_prefix(prefix).unwrap_or(key).to_owned(),
        value: kv.value_str()?.to_owned(),
        created: kv.create_revision(),
    })
}

/// A read of every key under the key read.
fn all_keys() -> Option<GetOptions> {
    Some(GetOptions::new().with_prefix())
}

/// What each of a read transaction's `N` gets found.
fn gets<const N: usize>(responses: &[TxnOpResponse]) -> Result<[Vec<KeyValue>; N], ClusterError> {
    let found: Vec<Vec<KeyValue>> = responses
        .iter()
        .filter_map(|op| match op {
            TxnOpResponse::Get(g) => Some(g.kvs().to_vec()),
            _ => None,
        })
        .collect();
    found
        .try_into()
        .map_err(|_| ClusterError::Malformed("a read answered without its values".into()))
}

/// The value of the first key a transaction's `get` found.
fn first_value(responses: &[TxnOpResponse]) -> Option<String> {
    responses.iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g
            .kvs()
            .first()
            .and_then(|kv| kv.value_str().ok().map(str::to_owned)),
        _ => None,
    })
}

fn parse(decision: &str) -> Result<Decision, ClusterError> {
    match decision {
        "commit" => Ok(Decision::Commit),
        "abort" => Ok(Decision::Abort),
        other => Err(ClusterError::Malformed(format!("decision {other:?}"))),
    }
}
