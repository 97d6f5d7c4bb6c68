//! Checks that need only the tokens of `graph!`: settings, instance names,
//! unknown instances, duplicate arcs, outputs used twice, cycles. Port names
//! and types are left to rustc (see `emit`).

use super::parse::{ArcDecl, GraphDecl, InstanceDecl, Setting};
use super::supervise::{Mode, Policy};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use syn::{Error, LitInt};

pub(crate) struct Instance {
    pub decl: InstanceDecl,
    pub worker: Option<usize>,
    pub cost: u64,
}

pub(crate) struct Arc {
    pub decl: ArcDecl,
    pub from: usize,
    pub to: usize,
    pub capacity: usize,
}

/// A graph that passed every token-level check.
pub(crate) struct Graph {
    pub name: String,
    pub workers: usize,
    /// Default arc capacity.
    pub capacity: usize,
    /// Supervision of instances without their own.
    pub on_panic: Option<Policy>,
    pub instances: Vec<Instance>,
    pub arcs: Vec<Arc>,
    /// Instances in a topological order (stable: ties by declaration).
    pub topo: Vec<usize>,
}

const DEFAULT_CAPACITY: usize = 1024;

fn positive(lit: &LitInt, what: &str) -> syn::Result<usize> {
    match lit.base10_parse::<usize>()? {
        0 => Err(Error::new(lit.span(), format!("{what} must be at least 1"))),
        n => Ok(n),
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn unknown_instance(name: &syn::Ident, instances: &[Instance]) -> Error {
    let n = name.to_string();
    let names: Vec<String> = instances.iter().map(|i| i.decl.name.to_string()).collect();
    let mut msg = format!("no instance named `{n}` in this graph");
    if let Some(best) = names
        .iter()
        .filter(|c| distance(c, &n) <= 2.max(n.len() / 3))
        .min_by_key(|c| distance(c, &n))
    {
        msg.push_str(&format!("; did you mean `{best}`?"));
    }
    if names.is_empty() {
        msg.push_str("; declare it first: `name: Type;`");
    } else {
        msg.push_str(&format!(
            " (instances: {})",
            names
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Error::new(name.span(), msg)
}

pub(crate) fn check(decl: GraphDecl) -> syn::Result<Graph> {
    let (mut name, mut workers, mut capacity, mut on_panic) = (None, None, None, None);
    for (key, setting) in &decl.settings {
        let slot_taken = match setting {
            Setting::Name(s) => name.replace(s.value()).is_some(),
            Setting::Workers(n) => workers.replace(positive(n, "`workers`")?).is_some(),
            Setting::Capacity(n) => capacity.replace(positive(n, "`capacity`")?).is_some(),
            Setting::OnPanic(p) => on_panic.replace(p.clone()).is_some(),
        };
        if slot_taken {
            return Err(Error::new(key.span(), format!("`{key}` is set twice")));
        }
    }
    let workers = workers.unwrap_or(1);
    let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
    if decl.instances.is_empty() {
        return Err(Error::new(
            proc_macro2::Span::call_site(),
            "a graph needs at least one instance: `name: Type;`",
        ));
    }

    let mut instances: Vec<Instance> = Vec::new();
    let mut declared: HashMap<String, usize> = HashMap::new();
    for d in decl.instances {
        if let Some(prev) = declared.get(&d.name.to_string()).map(|&i| &instances[i]) {
            let mut e = Error::new(
                d.name.span(),
                format!("instance `{}` is declared twice", d.name),
            );
            e.combine(Error::new(prev.decl.name.span(), "first declared here"));
            return Err(e);
        }
        let worker = match &d.worker {
            Some(w) => {
                let k = w.base10_parse::<usize>()?;
                if k >= workers {
                    return Err(Error::new(
                        w.span(),
                        format!("worker {k} does not exist: this graph has {workers} worker(s), numbered from 0"),
                    ));
                }
                Some(k)
            }
            None => None,
        };
        let cost = match &d.cost {
            Some(c) => positive(c, "a cost")? as u64,
            None => 1,
        };
        declared.insert(d.name.to_string(), instances.len());
        instances.push(Instance {
            decl: d,
            worker,
            cost,
        });
    }

    let index: HashMap<String, usize> = instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (inst.decl.name.to_string(), i))
        .collect();
    let find = |id: &syn::Ident| {
        index
            .get(&id.to_string())
            .copied()
            .ok_or_else(|| unknown_instance(id, &instances))
    };
    let mut arcs: Vec<Arc> = Vec::new();
    // Arc and output already declared, by (instance, port) names.
    let mut arc_at: HashMap<(usize, String, usize, String), usize> = HashMap::new();
    let mut output_at: HashMap<(usize, String), usize> = HashMap::new();
    for d in decl.arcs {
        let (from, to) = (find(&d.from)?, find(&d.to)?);
        let (out, inp) = (d.out.to_string(), d.inp.to_string());
        if let Some(prev) = arc_at
            .get(&(from, out.clone(), to, inp.clone()))
            .map(|&a| &arcs[a])
        {
            let mut e = Error::new(
                d.arrow.spans[0],
                format!(
                    "duplicate arc `{}.{} -> {}.{}`; remove one of them",
                    d.from, d.out, d.to, d.inp
                ),
            );
            e.combine(Error::new(prev.decl.arrow.spans[0], "first declared here"));
            return Err(e);
        }
        if let Some(prev) = output_at.get(&(from, out.clone())).map(|&a| &arcs[a]) {
            let mut e = Error::new(
                d.out.span(),
                format!(
                    "output `{}.{}` is already connected to `{}.{}`; packets are moved, not cloned: \
                     to send to several consumers, give the component one output per consumer",
                    d.from, d.out, prev.decl.to, prev.decl.inp
                ),
            );
            e.combine(Error::new(prev.decl.out.span(), "first connected here"));
            return Err(e);
        }
        let capacity = match &d.capacity {
            Some(c) => positive(c, "an arc capacity")?,
            None => capacity,
        };
        arc_at.insert((from, out.clone(), to, inp), arcs.len());
        output_at.insert((from, out), arcs.len());
        arcs.push(Arc {
            decl: d,
            from,
            to,
            capacity,
        });
    }

    let topo = topological_order(&instances, &arcs)?;
    Ok(Graph {
        name: name.unwrap_or_else(|| "graph".to_owned()),
        workers,
        capacity,
        on_panic,
        instances,
        arcs,
        topo,
    })
}

impl Graph {
    /// True if instance `i` is restarted from its constructor, which must
    /// then be kept to be called again.
    pub(crate) fn restarts(&self, i: usize) -> bool {
        let own = self.instances[i].decl.on_panic.as_ref();
        own.or(self.on_panic.as_ref())
            .is_some_and(|p| p.mode == Mode::Restart)
    }
}

/// Kahn's algorithm, always taking the earliest-declared ready instance; on
/// a cycle, reports the arc that closes it with the whole cycle.
fn topological_order(instances: &[Instance], arcs: &[Arc]) -> syn::Result<Vec<usize>> {
    let n = instances.len();
    let mut indegree = vec![0usize; n];
    let mut consumers = vec![Vec::new(); n];
    for a in arcs {
        indegree[a.to] += 1;
        consumers[a.from].push(a.to);
    }
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    while let Some(Reverse(i)) = ready.pop() {
        done[i] = true;
        order.push(i);
        for &c in &consumers[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(Reverse(c));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every unfinished instance has an unfinished producer: walk producers
    // until one repeats; the walk, reversed, is a cycle.
    let mut path = vec![(0..n).find(|&i| !done[i]).expect("an instance is left")];
    loop {
        let cur = *path.last().expect("non-empty");
        let arc = arcs
            .iter()
            .find(|a| a.to == cur && !done[a.from])
            .expect("an unfinished producer");
        if let Some(pos) = path.iter().position(|&i| i == arc.from) {
            let mut names = vec![instances[arc.from].decl.name.to_string()];
            names.extend(
                path[pos + 1..]
                    .iter()
                    .rev()
                    .map(|&i| instances[i].decl.name.to_string()),
            );
            names.push(names[0].clone());
            return Err(Error::new(
                arc.decl.arrow.spans[0],
                format!(
                    "this arc closes a cycle: {}; evoflow graphs must be acyclic (end of stream and \
                     update markers travel downstream): break the cycle or keep the feedback inside \
                     one component's state",
                    names.join(" -> ")
                ),
            ));
        }
        path.push(arc.from);
    }
}
