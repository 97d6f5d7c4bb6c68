//! The static schedule: which worker runs which instance, in which order.
//!
//! Unpinned instances, in topological order, are cut into one contiguous run
//! per worker so that the busiest worker's cost (sum of cost hints, 1 by
//! default) is as small as possible, and among such cuts the one with the
//! fewest arcs between workers: contiguous runs keep most hops of a pipeline
//! inside a section, where they are cheap. Pinned instances (`#[worker(k)]`)
//! count towards their worker's cost. Within a section instances run in
//! topological order, so one pass moves a packet through the whole section.

use super::check::Graph;

/// Sections in run order, numbered as the workers in `graph!`; a section
/// left empty gets no thread.
pub(crate) struct Schedule {
    pub sections: Vec<Vec<usize>>,
}

/// Cost of a candidate: busiest worker first, then cross-worker arcs.
type Score = (u64, usize);

pub(crate) fn schedule(g: &Graph) -> Schedule {
    let k = g.workers;
    let free: Vec<usize> = g
        .topo
        .iter()
        .copied()
        .filter(|&i| g.instances[i].worker.is_none())
        .collect();
    let mut pinned_cost = vec![0u64; k];
    for inst in &g.instances {
        if let Some(w) = inst.worker {
            pinned_cost[w] += inst.cost;
        }
    }
    let mut pos = vec![None; g.instances.len()];
    for (p, &i) in free.iter().enumerate() {
        pos[i] = Some(p);
    }
    let pos_of = |i: usize| pos[i];
    // Cross arcs charged to the chunk free[a..b] on worker w: arcs between
    // a member and an earlier free instance, or a pinned one elsewhere.
    let chunk_cross = |a: usize, b: usize, w: usize| -> usize {
        g.arcs
            .iter()
            .filter(|arc| {
                let (pf, pt) = (pos_of(arc.from), pos_of(arc.to));
                let inside = |p: Option<usize>| p.is_some_and(|p| a <= p && p < b);
                let before = |p: Option<usize>| p.is_some_and(|p| p < a);
                let pinned_elsewhere = |i: usize| g.instances[i].worker.is_some_and(|pw| pw != w);
                (inside(pf) && (before(pt) || pinned_elsewhere(arc.to)))
                    || (inside(pt) && (before(pf) || pinned_elsewhere(arc.from)))
            })
            .count()
    };
    let chunk_cost =
        |a: usize, b: usize| -> u64 { free[a..b].iter().map(|&i| g.instances[i].cost).sum() };

    // best[j][b]: best score for free[..b] on workers 0..j, with the cut.
    // front[j][b]: the Pareto front of (busiest cost, cross arcs) over the
    // cuts of free[..b] into workers 0..j, each with its back-pointer
    // (where chunk j-1 starts, and which point of front[j-1][a]). Keeping
    // the whole front, not one best score, finds the fewest cross arcs
    // among the cuts whose busiest worker is least loaded.
    let n = free.len();
    let mut front: Vec<Vec<Vec<(Score, usize, usize)>>> = vec![vec![Vec::new(); n + 1]; k + 1];
    front[0][0].push(((0, 0), 0, 0));
    for j in 1..=k {
        for b in 0..=n {
            let mut points: Vec<(Score, usize, usize)> = Vec::new();
            for (a, prev) in front[j - 1].iter().enumerate().take(b + 1) {
                let (cost, cross) = (
                    chunk_cost(a, b) + pinned_cost[j - 1],
                    chunk_cross(a, b, j - 1),
                );
                for (p, &((max, c), _, _)) in prev.iter().enumerate() {
                    points.push(((max.max(cost), c + cross), a, p));
                }
            }
            points.sort();
            let mut kept: Vec<(Score, usize, usize)> = Vec::new();
            for pt in points {
                if kept.last().is_none_or(|last| pt.0 .1 < last.0 .1) {
                    kept.push(pt);
                }
            }
            front[j][b] = kept;
        }
    }
    let mut cuts = vec![n; k + 1];
    let mut point = 0; // the lexicographically best: least busiest cost, then fewest cross arcs
    for j in (1..=k).rev() {
        let (_, a, p) = front[j][cuts[j]][point];
        cuts[j - 1] = a;
        point = p;
    }
    let mut sections: Vec<Vec<usize>> = (0..k)
        .map(|w| free[cuts[w]..cuts[w + 1]].to_vec())
        .collect();
    for &i in &g.topo {
        if let Some(w) = g.instances[i].worker {
            sections[w].push(i);
        }
    }
    for s in &mut sections {
        s.sort_by_key(|i| g.topo.iter().position(|t| t == i));
    }
    Schedule { sections }
}
