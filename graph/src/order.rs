//! The topological order of a graph, naming one cycle when it has none,
//! the path search that tells whether one new arc closes a cycle, and the
//! search for everything a set of nodes reaches.
//!
//! Graphs are given as successor lists by node index (node `i`'s arcs go to
//! `successors[i]`), the form both `graph!` and `GraphBuilder` can build from
//! their arcs in one pass.

use crate::GraphError;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// A cycle of a graph: `nodes[i] -> nodes[i + 1]` are arcs, and so is the
/// last node back to the first (a self-loop is one node).
///
/// The arc `nodes[0] -> nodes[1]` (or `nodes[0] -> nodes[0]`) is the one that
/// closed the cycle when it was found, so diagnostics point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The nodes on the cycle, in arc order, each once.
    pub nodes: Vec<usize>,
}

impl Cycle {
    /// The [`GraphError::Cycle`] of this cycle: `arc` is the label of the
    /// arc `nodes[0] -> nodes[1]` (as `a.out -> b.inp`), `name` the name of
    /// a node's instance.
    pub fn named(&self, arc: String, name: impl Fn(usize) -> String) -> GraphError {
        GraphError::Cycle {
            arc,
            instances: self.nodes.iter().map(|&i| name(i)).collect(),
        }
    }
}

/// A topological order of the nodes (every arc goes from an earlier node to
/// a later one), or one cycle if there is none.
///
/// Kahn's algorithm that always takes the earliest (lowest index) ready
/// node, so the order is deterministic and, with nodes numbered in
/// declaration order, keeps declaration order wherever the arcs allow: it is
/// the least such order lexicographically. O((n + arcs) log n).
///
/// On a cycle, the nodes left over each have a left-over predecessor: the
/// walk from the earliest of them through its earliest left-over
/// predecessor, and so on, repeats a node; the repeated stretch, reversed,
/// is the cycle.
pub fn topological_order<S: AsRef<[usize]>>(successors: &[S]) -> Result<Vec<usize>, Cycle> {
    let n = successors.len();
    let mut indegree = vec![0usize; n];
    for s in successors {
        for &t in s.as_ref() {
            indegree[t] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &t in successors[i].as_ref() {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(Reverse(t));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // A node is left over iff its indegree stayed above 0, which counts only
    // its left-over predecessors.
    let left = |i: usize| indegree[i] > 0;
    let mut first_pred = vec![usize::MAX; n];
    for (u, s) in successors.iter().enumerate().filter(|&(u, _)| left(u)) {
        for &t in s.as_ref() {
            if left(t) && first_pred[t] == usize::MAX {
                first_pred[t] = u;
            }
        }
    }
    let mut on_path = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut cur = (0..n).find(|&i| left(i)).expect("a node is left over");
    while on_path[cur] == usize::MAX {
        on_path[cur] = path.len();
        path.push(cur);
        cur = first_pred[cur];
    }
    // `cur` is on the path and is the predecessor of its last node.
    let mut nodes = vec![cur];
    nodes.extend(path[on_path[cur] + 1..].iter().rev());
    Err(Cycle { nodes })
}

/// A shortest path from `start` to `goal` along the arcs `successors` gives,
/// both ends included, or `None` if `goal` cannot be reached.
///
/// It visits only what is reachable from `start`, and stops at `goal`: the
/// runtime's update check (`Draft::check_acyclic`) asks whether a new arc
/// `u -> v` closes a cycle, which it does iff `v` reaches `u`, at the cost
/// of what lies downstream of `v`, not of the whole graph; `successors`
/// reads the graph as the update would leave it, without copying it. The
/// path, with `u` put first, names the cycle.
pub fn path<N, I>(start: N, goal: &N, mut successors: impl FnMut(&N) -> I) -> Option<Vec<N>>
where
    N: Clone + Eq + Hash,
    I: IntoIterator<Item = N>,
{
    // Each reached node and the node it was reached from.
    let mut parent: HashMap<N, Option<N>> = HashMap::from([(start.clone(), None)]);
    let mut todo = VecDeque::from([start]);
    while let Some(n) = todo.pop_front() {
        if n == *goal {
            let mut path = vec![n];
            while let Some(Some(p)) = parent.get(path.last().expect("non-empty")) {
                path.push(p.clone());
            }
            path.reverse();
            return Some(path);
        }
        for s in successors(&n) {
            if !parent.contains_key(&s) {
                parent.insert(s.clone(), Some(n.clone()));
                todo.push_back(s);
            }
        }
    }
    None
}

/// Every node reachable from `starts` along the arcs `successors` gives,
/// the starts included. An update's checks ask it both ways (what a
/// changed instance feeds, and what feeds it): for the update's region,
/// and for the paths that leave a machine and come back.
pub fn reachable<N, I>(
    starts: impl IntoIterator<Item = N>,
    mut successors: impl FnMut(&N) -> I,
) -> HashSet<N>
where
    N: Clone + Eq + Hash,
    I: IntoIterator<Item = N>,
{
    let mut todo: Vec<N> = starts.into_iter().collect();
    let mut seen: HashSet<N> = todo.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        for s in successors(&n) {
            if seen.insert(s.clone()) {
                todo.push(s);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ordering of `0..n`.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, n - 1);
                out.push(q);
            }
        }
        out
    }

    /// Successor lists of `arcs` over `n` nodes, node `i` renamed `rename[i]`.
    fn successors(n: usize, arcs: &[(usize, usize)], rename: &[usize]) -> Vec<Vec<usize>> {
        let mut s = vec![Vec::new(); n];
        for &(u, v) in arcs {
            s[rename[u]].push(rename[v]);
        }
        s
    }

    fn has_arc(s: &[Vec<usize>], u: usize, v: usize) -> bool {
        s[u].contains(&v)
    }

    /// Checks that `order` is a topological order of `s` and, at each step,
    /// took the earliest node whose predecessors were all taken.
    fn assert_earliest_topological(s: &[Vec<usize>], order: &[usize]) {
        let n = s.len();
        let mut taken = vec![false; n];
        for &i in order {
            let ready = |j: usize| !taken[j] && (0..n).all(|u| taken[u] || !has_arc(s, u, j));
            assert!(
                ready(i),
                "{i} taken before a predecessor in {order:?} of {s:?}"
            );
            assert_eq!(
                (0..n).find(|&j| ready(j)),
                Some(i),
                "not the earliest ready in {order:?} of {s:?}"
            );
            taken[i] = true;
        }
        assert!(taken.iter().all(|&t| t), "{order:?} leaves out a node");
    }

    fn assert_cycle(s: &[Vec<usize>], cycle: &Cycle) {
        let c = &cycle.nodes;
        assert!(!c.is_empty());
        for (k, &u) in c.iter().enumerate() {
            let v = c[(k + 1) % c.len()];
            assert!(has_arc(s, u, v), "{c:?} is not a cycle of {s:?}");
            assert!(!c[..k].contains(&u), "{c:?} repeats {u}");
        }
    }

    #[test]
    fn every_ordering_of_an_acyclic_graph_is_sorted_earliest_first() {
        // Two sources, a diamond, a tail and a lone node.
        let arcs = [(0, 2), (1, 2), (2, 3), (2, 4), (3, 5), (4, 5)];
        for rename in permutations(7) {
            let s = successors(7, &arcs, &rename);
            let order = topological_order(&s).expect("acyclic");
            assert_earliest_topological(&s, &order);
        }
    }

    #[test]
    fn every_ordering_of_a_cyclic_graph_names_a_real_cycle() {
        // A source into a cycle of three with a chord (so two cycles), and
        // a sink after it.
        let arcs = [(0, 1), (1, 2), (2, 3), (3, 1), (2, 1), (3, 4)];
        for rename in permutations(5) {
            let s = successors(5, &arcs, &rename);
            let cycle = topological_order(&s).expect_err("cyclic");
            assert_cycle(&s, &cycle);
        }
    }

    #[test]
    fn a_self_loop_is_a_cycle_of_one() {
        let s = vec![vec![1], vec![1]];
        assert_eq!(topological_order(&s), Err(Cycle { nodes: vec![1] }));
    }

    #[test]
    fn the_cycle_starts_at_the_arc_that_closed_it() {
        // numbers, merge, double, split, sum, as in the ui test `cycle`: the
        // walk from merge meets merge again through double.
        let s = vec![vec![1], vec![2], vec![3], vec![1, 4], vec![]];
        assert_eq!(
            topological_order(&s),
            Err(Cycle {
                nodes: vec![1, 2, 3]
            })
        );
        let e = Cycle {
            nodes: vec![1, 2, 3],
        }
        .named("merge.out -> double.inp".into(), |i| {
            ["numbers", "merge", "double", "split", "sum"][i].to_owned()
        });
        assert_eq!(
            e,
            GraphError::Cycle {
                arc: "merge.out -> double.inp".into(),
                instances: vec!["merge".into(), "double".into(), "split".into()],
            }
        );
    }

    #[test]
    fn an_empty_graph_has_an_empty_order() {
        assert_eq!(topological_order::<Vec<usize>>(&[]), Ok(vec![]));
    }

    #[test]
    fn a_path_is_shortest_and_only_what_is_reachable_is_visited() {
        // By name, as the runtime's draft has them: a -> b -> c -> d, and a
        // shortcut a -> d; x -> a is upstream and must not be visited.
        let arcs = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("x", "a")];
        let mut visited = Vec::new();
        let p = path("a", &"d", |n| {
            visited.push(*n);
            arcs.iter()
                .filter(|(f, _)| f == n)
                .map(|&(_, t)| t)
                .collect::<Vec<_>>()
        });
        assert_eq!(p, Some(vec!["a", "d"]));
        assert!(!visited.contains(&"x"), "{visited:?}");
        assert_eq!(path("d", &"a", |_| Vec::new()), None);
        assert_eq!(path("a", &"a", |_| vec!["b"]), Some(vec!["a"]));
        // A new arc d -> b closes a cycle iff b reaches d.
        let succ = |n: &&str| {
            arcs.iter()
                .filter(|(f, _)| f == n)
                .map(|&(_, t)| t)
                .collect::<Vec<_>>()
        };
        assert_eq!(path("b", &"d", succ), Some(vec!["b", "c", "d"]));
        assert_eq!(path("d", &"x", succ), None);
    }

    /// What a set of nodes reaches: each start, and every node on a path
    /// from one, also through a cycle; nothing else.
    #[test]
    fn reachable_is_the_starts_and_what_they_lead_to() {
        // 0 -> 1 -> 2 -> 1, 3 -> 4, 5 alone.
        let successors = |n: &usize| match n {
            0 => vec![1],
            1 => vec![2],
            2 => vec![1],
            3 => vec![4],
            _ => vec![],
        };
        let set = |v: &[usize]| v.iter().copied().collect::<HashSet<usize>>();
        assert_eq!(reachable([0], successors), set(&[0, 1, 2]));
        assert_eq!(reachable([2, 3], successors), set(&[1, 2, 3, 4]));
        assert_eq!(reachable([5], successors), set(&[5]));
        assert_eq!(reachable([], successors), set(&[]));
    }
}
