//! The etcd side: membership under leases, decisions by create-if-absent
//! transactions.

use crate::error::ClusterError;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
};
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

/// The outcome of an update, the same for every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Every machine applies it.
    Commit,
    /// Every machine stays on its old versions and state.
    Abort,
}

/// The graph's entry in etcd.
pub struct Cluster {
    runtime: Runtime,
    client: Client,
    graph: String,
}

/// This machine's membership: renewed in the background while it lives;
/// left (its lease revoked) when dropped.
pub struct Membership {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
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
            runtime,
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

    fn decision_key(&self, update: u64) -> String {
        format!("/evoflow/{}/decisions/{update}", self.graph)
    }

    /// The machines that have joined and whose leases are alive.
    pub fn machines(&self) -> Result<Vec<Machine>, ClusterError> {
        let mut client = self.client.clone();
        let prefix = self.machines_prefix();
        let found = self
            .runtime
            .block_on(client.get(prefix.clone(), Some(GetOptions::new().with_prefix())))?;
        found
            .kvs()
            .iter()
            .map(|kv| {
                let name = kv.key_str().map_err(ClusterError::from)?;
                let name = name.strip_prefix(&prefix).unwrap_or(name).to_owned();
                let value = kv.value_str().map_err(ClusterError::from)?;
                let (addr, build) = value
                    .split_once('\n')
                    .ok_or_else(|| ClusterError::Malformed(format!("machine {name}: {value:?}")))?;
                Ok(Machine {
                    name,
                    addr: addr.to_owned(),
                    build: build.to_owned(),
                })
            })
            .collect()
    }

    /// Registers `me` under a lease of its own, renewed in the background.
    /// Refused if its name is held by a live machine, or if the machines
    /// already joined run another build.
    pub fn join(&self, me: &Machine) -> Result<Membership, ClusterError> {
        let joined = self.machines()?;
        if let Some(m) = joined.iter().find(|m| m.name == me.name) {
            return Err(ClusterError::NameTaken {
                machine: me.name.clone(),
                holder: m.addr.clone(),
            });
        }
        if let Some(m) = joined.iter().find(|m| m.build != me.build) {
            return Err(ClusterError::OtherBuild {
                machine: me.name.clone(),
                build: me.build.clone(),
                joined: m.name.clone(),
                expected: m.build.clone(),
            });
        }
        let mut client = self.client.clone();
        let key = self.member_key(&me.name);
        let value = format!("{}\n{}", me.addr, me.build);
        let runtime = &self.runtime;
        let lease = runtime
            .block_on(client.lease_grant(LEASE.as_secs() as i64, None))?
            .id();
        // Created only if absent: of two processes racing for one name,
        // one joins.
        let claim = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                value,
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let claimed = runtime.block_on(client.txn(claim))?;
        if !claimed.succeeded() {
            let _ = runtime.block_on(client.lease_revoke(lease));
            return Err(ClusterError::NameTaken {
                machine: me.name.clone(),
                holder: first_value(&claimed.op_responses())
                    .and_then(|v| v.split_once('\n').map(|(a, _)| a.to_owned()))
                    .unwrap_or_default(),
            });
        }
        let (mut keeper, mut answers) = runtime.block_on(client.lease_keep_alive(lease))?;
        let (stop, mut stopped) = oneshot::channel();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(LEASE / 4) => {
                        if keeper.keep_alive().await.is_err() {
                            return;
                        }
                        let _ = answers.message().await;
                    }
                }
            }
            let _ = client.lease_revoke(lease).await;
        });
        Ok(Membership { stop: Some(stop) })
    }

    /// The decision of `update`, taken now if nobody has yet: `propose`
    /// (a commit only if every one of `participants` is still a member,
    /// else an abort). Returns the decision every machine reads, which
    /// may be another proposer's.
    pub fn decide(
        &self,
        update: u64,
        participants: &[&str],
        propose: Decision,
    ) -> Result<Decision, ClusterError> {
        let mut client = self.client.clone();
        let key = self.decision_key(update);
        let absent = || Compare::create_revision(key.clone(), CompareOp::Equal, 0);
        let read = || TxnOp::get(key.clone(), None);
        let runtime = &self.runtime;
        if propose == Decision::Commit {
            let mut when = vec![absent()];
            when.extend(
                participants
                    .iter()
                    .map(|p| Compare::version(self.member_key(p), CompareOp::Greater, 0)),
            );
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
