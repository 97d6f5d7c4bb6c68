//! Checks that need only the tokens of `graph!`: settings, instance names,
//! unknown instances, duplicate arcs, outputs used twice, cycles. Port names
//! and types are left to rustc (see `emit`).

use super::parse::{ArcDecl, GraphDecl, InstanceDecl, Setting};
use super::supervise::{Mode, Policy};
use evoflow_graph::{GraphError, Place};
use std::collections::HashMap;
use syn::{Error, Expr, Ident, Lit, LitInt};

pub(crate) struct Instance {
    pub decl: InstanceDecl,
    pub place: Place,
    pub cost: u64,
    /// Index of its machine (0 in a graph without `machines`).
    pub machine: usize,
}

/// A machine of a graph with `machines = { .. }`.
pub(crate) struct Machine {
    pub name: Ident,
    pub workers: usize,
}

pub(crate) struct Arc {
    pub decl: ArcDecl,
    pub from: usize,
    pub to: usize,
    pub capacity: usize,
}

/// How many workers run the graph.
pub(crate) enum Workers {
    /// A literal: the schedule is computed, and the pins are checked
    /// against it, at compile time.
    Fixed(usize),
    /// Any other expression (of type `usize`): the runtime runs the same
    /// scheduler when the graph is built, and checks the pins then.
    RunTime(Box<Expr>),
}

/// The cost and the place of each instance, and the arcs as (from, to).
pub(crate) struct Placement {
    pub cost: Vec<u64>,
    pub place: Vec<Place>,
    pub arcs: Vec<(usize, usize)>,
}

/// A graph that passed every token-level check.
pub(crate) struct Graph {
    pub name: String,
    pub workers: Workers,
    /// Default arc capacity.
    pub capacity: usize,
    /// Supervision of instances without their own.
    pub on_panic: Option<Policy>,
    pub instances: Vec<Instance>,
    pub arcs: Vec<Arc>,
    /// Instances in a topological order (stable: ties by declaration).
    pub topo: Vec<usize>,
    /// The machines, if the graph runs over several.
    pub machines: Option<Vec<Machine>>,
}

const DEFAULT_CAPACITY: usize = 1024;

fn positive(lit: &LitInt, what: &str) -> syn::Result<usize> {
    match lit.base10_parse::<usize>()? {
        0 => Err(Error::new(lit.span(), format!("{what} must be at least 1"))),
        n => Ok(n),
    }
}

/// The integer literal `e` is, if it is one (also as a `$n:expr` of
/// `macro_rules!`, which arrives wrapped in an invisible group).
fn int_literal(e: &Expr) -> Option<&LitInt> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(n) => Some(n),
            _ => None,
        },
        Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

/// An arc to an instance not declared: the shared message (listing the
/// instances, suggesting the closest), at the name.
fn unknown_instance(name: &syn::Ident, instances: &[Instance]) -> Error {
    let e = GraphError::UnknownInstance {
        name: name.to_string(),
        instances: instances.iter().map(|i| i.decl.name.to_string()).collect(),
    };
    Error::new(name.span(), e)
}

/// Checks the declaration. Returns the graph as far as it is valid, with
/// every mistake found: each is reported and its statement left out, and
/// mistakes that follow only from another (an arc to an instance whose
/// declaration has a mistake) are not reported again.
pub(crate) fn check(decl: GraphDecl) -> (Graph, Vec<Error>) {
    let mut errors = decl.errors;
    let mut ok = |r: syn::Result<usize>| r.map_err(|e| errors.push(e)).ok();
    let (mut name, mut workers, mut capacity, mut on_panic) = (None, None, None, None);
    let mut machines: Option<Vec<Machine>> = None;
    let mut bad_workers = false;
    let mut twice = Vec::new();
    for (key, setting) in &decl.settings {
        let slot_taken = match setting {
            Setting::Name(s) => name.replace(s.value()).is_some(),
            Setting::Workers(e) => match int_literal(e) {
                Some(n) => match ok(positive(n, "`workers`")) {
                    Some(n) => workers.replace(Workers::Fixed(n)).is_some(),
                    None => {
                        bad_workers = true;
                        false
                    }
                },
                None => workers.replace(Workers::RunTime(e.clone())).is_some(),
            },
            Setting::Capacity(n) => match ok(positive(n, "`capacity`")) {
                Some(n) => capacity.replace(n).is_some(),
                None => false,
            },
            Setting::OnPanic(p) => on_panic.replace(p.clone()).is_some(),
            Setting::Machines(list) => {
                let mut found: Vec<Machine> = Vec::new();
                for (m, n) in list {
                    if found.iter().any(|f| f.name == *m) {
                        twice.push(Error::new(
                            m.span(),
                            format!("machine `{m}` is listed twice"),
                        ));
                        continue;
                    }
                    let workers = ok(positive(n, "a machine's `workers`")).unwrap_or(1);
                    found.push(Machine {
                        name: m.clone(),
                        workers,
                    });
                }
                machines.replace(found).is_some()
            }
        };
        if slot_taken {
            twice.push(Error::new(key.span(), format!("`{key}` is set twice")));
        }
    }
    if let (Some(_), Some((key, _))) = (
        &machines,
        decl.settings.iter().find(|(k, _)| k == "workers"),
    ) {
        twice.push(Error::new(
            key.span(),
            "with `machines`, each machine has its own worker count (`machines = { front: 2, back: 1 };`): drop `workers`",
        ));
    }
    let workers = workers.unwrap_or(Workers::Fixed(1));
    let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
    if decl.instances.is_empty() && decl.broken.is_empty() {
        twice.push(Error::new(
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
            twice.push(e);
            continue;
        }
        // `None`: not placed yet (placed after the arcs are read).
        let machine = match (&d.machine, &machines) {
            (None, _) => None,
            (Some(m), Some(list)) => match list.iter().position(|x| x.name == *m) {
                Some(i) => Some(i),
                None => {
                    let names: Vec<String> = list.iter().map(|x| format!("`{}`", x.name)).collect();
                    twice.push(Error::new(
                        m.span(),
                        format!(
                            "unknown machine `{m}`; the graph's machines are {}",
                            names.join(", ")
                        ),
                    ));
                    None
                }
            },
            (Some(m), None) => {
                twice.push(Error::new(
                    m.span(),
                    format!("`#[machine({m})]` needs the graph's machines: add `machines = {{ {m}: 1, .. }};`"),
                ));
                None
            }
        };
        // A pin is checked against its machine's workers; an instance
        // placed on a machine later is checked then.
        let limit = match (&machines, machine) {
            (Some(list), Some(i)) => Some((list[i].workers, format!("machine `{}`", list[i].name))),
            (Some(_), None) => None,
            (None, _) => match workers {
                Workers::Fixed(n) if !bad_workers => Some((n, "this graph".to_owned())),
                _ => None,
            },
        };
        let worker = d.worker.as_ref().and_then(|w| {
            let k = ok(w.base10_parse::<usize>())?;
            match &limit {
                Some((n, whose)) if k >= *n => {
                    twice.push(Error::new(
                        w.span(),
                        format!(
                            "worker {k} does not exist: {whose} has {n} worker(s), numbered from 0"
                        ),
                    ));
                    None
                }
                _ => Some(k),
            }
        });
        let cost = d
            .cost
            .as_ref()
            .and_then(|c| ok(positive(c, "a cost")))
            .unwrap_or(1) as u64;
        let place = match (&d.blocking, worker) {
            (Some(b), _) => {
                if d.worker.is_some() {
                    twice.push(Error::new_spanned(
                        b,
                        "`#[blocking]` gives the instance a thread of its own; it cannot also be \
                         pinned with `#[worker(N)]`: drop one of them",
                    ));
                }
                Place::Own
            }
            (None, Some(w)) => Place::Worker(w),
            (None, None) => Place::Free,
        };
        declared.insert(d.name.to_string(), instances.len());
        instances.push(Instance {
            decl: d,
            place,
            cost,
            machine: machine.unwrap_or(usize::MAX),
        });
    }

    let broken: Vec<String> = decl.broken.iter().map(|b| b.to_string()).collect();
    let mut arcs: Vec<Arc> = Vec::new();
    // Arc and output already declared, by (instance, port) names.
    let mut arc_at: HashMap<(usize, String, usize, String), usize> = HashMap::new();
    let mut output_at: HashMap<(usize, String), usize> = HashMap::new();
    for d in decl.arcs {
        let mut find = |id: &syn::Ident| {
            let found = declared.get(&id.to_string()).copied();
            if found.is_none() && !broken.contains(&id.to_string()) {
                twice.push(unknown_instance(id, &instances));
            }
            found
        };
        let (Some(from), Some(to)) = (find(&d.from), find(&d.to)) else {
            continue;
        };
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
            twice.push(e);
            continue;
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
            twice.push(e);
            continue;
        }
        let capacity = match &d.capacity {
            Some(c) => ok(positive(c, "an arc capacity")).unwrap_or(capacity),
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
    errors.extend(twice);

    let topo = topological_order(&instances, &arcs).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    if let Some(list) = &machines {
        place_on_machines(&mut instances, &arcs, list, &mut errors);
    } else {
        instances.iter_mut().for_each(|i| i.machine = 0);
    }
    let graph = Graph {
        machines,
        name: name.unwrap_or_else(|| "graph".to_owned()),
        workers,
        capacity,
        on_panic,
        instances,
        arcs,
        topo,
    };
    (graph, errors)
}

impl Graph {
    /// What the scheduler needs besides the worker count and `topo`.
    pub(crate) fn placement(&self) -> Placement {
        Placement {
            cost: self.instances.iter().map(|i| i.cost).collect(),
            place: self.instances.iter().map(|i| i.place).collect(),
            arcs: self.arcs.iter().map(|a| (a.from, a.to)).collect(),
        }
    }

    /// True if instance `i` is restarted from its constructor, which must
    /// then be kept to be called again.
    pub(crate) fn restarts(&self, i: usize) -> bool {
        let own = self.instances[i].decl.on_panic.as_ref();
        own.or(self.on_panic.as_ref())
            .is_some_and(|p| p.mode == Mode::Restart)
    }
}

/// Puts each instance without `#[machine]` on the machine most of its
/// placed neighbours are on (so few arcs cross machines), repeating while
/// that places more; what is left goes on the first machine. Then checks
/// the worker pins of the instances placed here.
fn place_on_machines(
    instances: &mut [Instance],
    arcs: &[Arc],
    machines: &[Machine],
    errors: &mut Vec<Error>,
) {
    let unplaced = |i: &Instance| i.machine == usize::MAX;
    let pinned: Vec<bool> = instances.iter().map(|i| !unplaced(i)).collect();
    loop {
        let mut moved = false;
        for i in 0..instances.len() {
            if !unplaced(&instances[i]) {
                continue;
            }
            let mut votes = vec![0usize; machines.len()];
            for a in arcs {
                let other = if a.from == i {
                    a.to
                } else if a.to == i {
                    a.from
                } else {
                    continue;
                };
                if let Some(v) = votes.get_mut(instances[other].machine) {
                    *v += 1;
                }
            }
            // The first of the most voted machines, if any vote.
            let best = (0..machines.len()).rev().max_by_key(|&m| votes[m]);
            if let Some(m) = best.filter(|&m| votes[m] > 0) {
                instances[i].machine = m;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    for (i, inst) in instances.iter_mut().enumerate() {
        if unplaced(inst) {
            inst.machine = 0;
        }
        let Some(w) = inst.decl.worker.as_ref() else {
            continue;
        };
        let (k, m) = (
            w.base10_parse::<usize>().unwrap_or(0),
            &machines[inst.machine],
        );
        if !pinned[i] && k >= m.workers {
            errors.push(Error::new(
                w.span(),
                format!(
                    "worker {k} does not exist: `{}` is placed on machine `{}`, which has {} worker(s), numbered from 0; give it `#[machine(..)]`",
                    inst.decl.name, m.name, m.workers
                ),
            ));
        }
    }
}

/// The instances in topological order (the earliest declared ready instance
/// first), or the shared cycle message at the arc that closes the cycle.
fn topological_order(instances: &[Instance], arcs: &[Arc]) -> syn::Result<Vec<usize>> {
    let mut successors = vec![Vec::new(); instances.len()];
    for a in arcs {
        successors[a.from].push(a.to);
    }
    evoflow_graph::topological_order(&successors).map_err(|cycle| {
        let (from, to) = (cycle.nodes[0], cycle.nodes[1 % cycle.nodes.len()]);
        let arc = arcs
            .iter()
            .find(|a| a.from == from && a.to == to)
            .expect("the cycle's first arc is an arc");
        let d = &arc.decl;
        let label = format!("{}.{} -> {}.{}", d.from, d.out, d.to, d.inp);
        let e = cycle.named(label, |i| instances[i].decl.name.to_string());
        Error::new(d.arrow.spans[0], e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;

    /// The graph and the messages of every mistake in `src`.
    fn checked(src: &str) -> (Graph, Vec<String>) {
        let decl: GraphDecl = syn::parse_str(src).expect("statements are recovered from");
        let (g, errors) = check(decl);
        // A combined error lists its parts; "first declared here" and the
        // like stay with the error they belong to.
        let messages = errors
            .into_iter()
            .map(|e| {
                e.into_iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .collect();
        (g, messages)
    }

    #[test]
    fn every_mistake_is_reported_in_one_go() {
        let (g, errors) = checked(
            "workers = 2;
             a: Numbers; b: Sum; c: Sum;
             #[worker(5)] d: Sum;
             a.out -> b.inp;
             a.out -> b.inp;
             missing.out -> c.inp;
             a.other -> c.inp;
             bogus stuff;",
        );
        assert_eq!(
            errors,
            [
                "expected a setting (`workers = 2;`), an instance (`name: Type;`) or an arc (`a.out -> b.inp;`)",
                "worker 5 does not exist: this graph has 2 worker(s), numbered from 0",
                "duplicate arc `a.out -> b.inp`; remove one of them / first declared here",
                "no instance named `missing` in this graph (instances: `a`, `b`, `c`, `d`)",
            ]
        );
        // What is valid is kept, for rustc to check its ports.
        assert_eq!(g.instances.len(), 4);
        assert_eq!(g.arcs.len(), 2);
    }

    #[test]
    fn an_instance_with_a_mistake_is_reported_once_not_at_every_arc() {
        let (_, errors) = checked(
            "a: Numbers; #[cost(0)] b: Sum; #[colour(2)] c: Sum;
             a.out -> b.inp; b.out -> c.inp;",
        );
        // Statements that cannot be read come first, then the checks.
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`#[colour]` does not apply to an instance"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("a cost must be at least 1"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_literal_count_checks_pins_at_compile_time_any_other_at_run_time() {
        let (g, errors) = checked("workers = 2; #[worker(2)] a: Numbers;");
        assert_eq!(
            errors,
            ["worker 2 does not exist: this graph has 2 worker(s), numbered from 0"]
        );
        assert!(matches!(g.workers, Workers::Fixed(2)));
        let (g, errors) = checked("workers = n + 1; #[worker(2)] a: Numbers;");
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(g.workers, Workers::RunTime(_)));
        assert_eq!(g.instances[0].place, Place::Worker(2));
        // A literal passed through `macro_rules!` as `$n:expr` comes in an
        // invisible group, and is still a literal.
        let n: TokenStream = "2".parse().expect("a literal");
        let group = proc_macro2::Group::new(proc_macro2::Delimiter::None, n);
        let decl: GraphDecl =
            syn::parse2(quote::quote!(workers = #group; a: Numbers;)).expect("parses");
        assert!(matches!(check(decl).0.workers, Workers::Fixed(2)));
    }

    #[test]
    fn a_bad_worker_count_does_not_also_refuse_every_pin() {
        let (_, errors) = checked("workers = 0; #[worker(1)] a: Numbers;");
        assert_eq!(errors, ["`workers` must be at least 1"]);
    }

    #[test]
    fn a_cycle_names_its_instances_and_the_rest_is_still_checked() {
        let (_, errors) = checked(
            "s: Numbers; a: Merge; b: Double; s.out -> a.left; a.out -> b.inp; b.out -> a.right;
             s: Sum;",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            "instance `s` is declared twice / first declared here"
        );
        assert!(
            errors[1].starts_with("arc `a.out -> b.inp` closes a cycle: a -> b -> a;"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_self_loop_is_a_cycle_at_its_arc() {
        let (_, errors) = checked("s: Numbers; m: Merge; s.out -> m.left; m.out -> m.right;");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("arc `m.out -> m.right` closes a cycle: m -> m;"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_topological_order_takes_the_earliest_declared_ready_instance() {
        let (g, errors) = checked("c: Sum; b: Double; a: Numbers; z: Numbers; a.out -> b.inp; b.out -> c.inp; z.out -> d.inp; d: Sum;");
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = g
            .topo
            .iter()
            .map(|&i| g.instances[i].decl.name.to_string())
            .collect();
        assert_eq!(names, ["a", "b", "c", "z", "d"]);
    }
}
