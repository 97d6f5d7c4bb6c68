//! The static schedule: which worker runs which instance, in which order.
//!
//! Unpinned instances, in topological order, are cut into one contiguous run
//! per worker so that the busiest worker's cost (sum of cost hints, 1 by
//! default) is as small as possible, and among such cuts the one with the
//! fewest arcs between workers: contiguous runs keep most hops of a pipeline
//! inside a section, where they are cheap. Pinned instances (`#[worker(k)]`)
//! count towards their worker's cost. An instance that may block
//! (`#[blocking]`) gets a section of its own after the workers' — a thread
//! of its own — so that nothing else waits while it blocks. Within a
//! section instances run in topological order, so one pass moves a packet
//! through the whole section.
//!
//! The two goals are met one after the other: a binary search finds the
//! least cost of the busiest worker (a greedy fill decides whether a bound
//! can be met), then a dynamic program over the cut points finds the fewest
//! cross arcs among the cuts within that bound. Prefix sums make the cost and
//! the cross arcs of any run O(1), so the whole is O(workers · n²) at worst
//! for n unpinned instances, whatever the number of arcs.

use std::fmt;

/// A placement that no schedule can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// The worker count is 0.
    NoWorkers,
    /// An instance is pinned to a worker beyond the count.
    PinnedOutside {
        /// The instance, as an index into the inputs.
        instance: usize,
        /// The worker it is pinned to.
        worker: usize,
        /// The worker count.
        workers: usize,
    },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::NoWorkers => f.write_str("a graph needs at least 1 worker"),
            PlacementError::PinnedOutside {
                instance,
                worker,
                workers,
            } => write!(
                f,
                "instance {instance} is pinned to worker {worker}, but there are {workers} worker(s), numbered from 0"
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

/// Where an instance may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Wherever the schedule puts it.
    Free,
    /// On this worker (`#[worker(k)]`).
    Worker(usize),
    /// On a section of its own (`#[blocking]`): the instance may block, and
    /// nothing else may wait for it.
    Own,
}

/// The schedule of a graph on `workers` workers: instance `i` costs
/// `cost[i]` and may run where `place[i]` says; `arcs` are (from, to)
/// pairs and `topo` a topological order of all instances. Returns one
/// section per worker, each in run order, then one per [`Place::Own`]
/// instance in index order; or why the count and the pins do not fit
/// together.
pub fn sections(
    workers: usize,
    cost: &[u64],
    place: &[Place],
    arcs: &[(usize, usize)],
    topo: &[usize],
) -> Result<Vec<Vec<usize>>, PlacementError> {
    let k = workers;
    if k == 0 {
        return Err(PlacementError::NoWorkers);
    }
    if let Some((instance, worker)) = place.iter().enumerate().find_map(|(i, p)| match *p {
        Place::Worker(w) if w >= k => Some((i, w)),
        _ => None,
    }) {
        return Err(PlacementError::PinnedOutside {
            instance,
            worker,
            workers: k,
        });
    }
    // An instance of its own is pinned to a section after the workers':
    // the cut below spreads the free instances over the workers only.
    let (pinned, total) = pins(place, k);
    let free: Vec<usize> = topo
        .iter()
        .copied()
        .filter(|&i| pinned[i].is_none())
        .collect();
    let n = free.len();
    let mut pos = vec![usize::MAX; cost.len()];
    for (p, &i) in free.iter().enumerate() {
        pos[i] = p;
    }
    let mut pinned_cost = vec![0u64; total];
    for (i, w) in pinned.iter().enumerate() {
        if let Some(w) = *w {
            pinned_cost[w] += cost[i];
        }
    }
    // prefix[x]: cost of free[..x].
    let mut prefix = vec![0u64; n + 1];
    for (p, &i) in free.iter().enumerate() {
        prefix[p + 1] = prefix[p] + cost[i];
    }

    // Arcs between free instances, as positions (p < q in topological
    // order): `into[a][x]` counts those with p < a and q < x, so the arcs
    // entering the run [a, b) from before it are into[a][b] - into[a][a].
    let stride = n + 1;
    let mut into = vec![0u32; stride * stride];
    // Arcs between a free and a pinned instance: `to_pinned[x]` counts those
    // whose free end is before x, `to_worker[w][x]` those among them whose
    // pinned end is on worker w; they cross unless the run is on w.
    let mut to_pinned = vec![0u32; stride];
    let mut to_worker = vec![vec![0u32; stride]; total];
    for &(from, to) in arcs {
        match (pinned[from], pinned[to]) {
            (None, None) => {
                let (p, q) = (pos[from].min(pos[to]), pos[from].max(pos[to]));
                into[(p + 1) * stride + q + 1] += 1;
            }
            (None, Some(w)) | (Some(w), None) => {
                let f = if pinned[from].is_none() {
                    pos[from]
                } else {
                    pos[to]
                };
                to_pinned[f + 1] += 1;
                to_worker[w][f + 1] += 1;
            }
            (Some(_), Some(_)) => {} // the same whatever the cut
        }
    }
    for a in 0..stride {
        for x in 0..stride {
            let left = if x > 0 { into[a * stride + x - 1] } else { 0 };
            let up = if a > 0 { into[(a - 1) * stride + x] } else { 0 };
            let diag = if a > 0 && x > 0 {
                into[(a - 1) * stride + x - 1]
            } else {
                0
            };
            into[a * stride + x] += left + up - diag;
        }
    }
    for counts in std::iter::once(&mut to_pinned).chain(to_worker.iter_mut()) {
        for x in 1..stride {
            counts[x] += counts[x - 1];
        }
    }
    let cross = |a: usize, b: usize, w: usize| -> u64 {
        let entering = into[a * stride + b] - into[a * stride + a];
        let pinned_elsewhere = (to_pinned[b] - to_pinned[a]) - (to_worker[w][b] - to_worker[w][a]);
        u64::from(entering) + u64::from(pinned_elsewhere)
    };

    let bound = least_busiest(&prefix, &pinned_cost[..k]);

    // best[j][b]: over the cuts of free[..b] onto workers 0..j whose every
    // worker stays within `bound`, the fewest cross arcs, then the least
    // busiest worker among them (spreading the load over the first
    // workers), with where the run of worker j-1 starts (the earliest among
    // equals).
    type Best = Option<((u64, u64), usize)>;
    let mut best: Vec<Vec<Best>> = vec![vec![None; n + 1]; k + 1];
    best[0][0] = Some(((0, 0), 0));
    for j in 1..=k {
        let w = j - 1;
        let room = bound - pinned_cost[w];
        let mut lo = 0; // the earliest start a run ending at b may have
        for b in 0..=n {
            while prefix[b] - prefix[lo] > room {
                lo += 1;
            }
            let mut here: Best = None;
            for a in lo..=b {
                let Some(((crossed, busiest), _)) = best[j - 1][a] else {
                    continue;
                };
                let load = prefix[b] - prefix[a] + pinned_cost[w];
                let score = (crossed + cross(a, b, w), busiest.max(load));
                if here.is_none_or(|(s, _)| score < s) {
                    here = Some((score, a));
                }
            }
            best[j][b] = here;
        }
    }
    let mut cuts = vec![n; k + 1];
    for j in (1..=k).rev() {
        let (_, a) = best[j][cuts[j]].expect("the bound can be met");
        cuts[j - 1] = a;
    }

    let mut rank = vec![0; cost.len()];
    for (r, &i) in topo.iter().enumerate() {
        rank[i] = r;
    }
    let mut sections: Vec<Vec<usize>> = (0..total)
        .map(|w| {
            if w < k {
                free[cuts[w]..cuts[w + 1]].to_vec()
            } else {
                Vec::new()
            }
        })
        .collect();
    for (i, w) in pinned.iter().enumerate() {
        if let Some(w) = *w {
            sections[w].push(i);
        }
    }
    for s in &mut sections {
        s.sort_by_key(|&i| rank[i]);
    }
    Ok(sections)
}

/// The section each instance is pinned to (its worker, or for an
/// instance of its own the next section after the `workers`), and the
/// number of sections.
fn pins(place: &[Place], workers: usize) -> (Vec<Option<usize>>, usize) {
    let mut sections = workers;
    let pinned = place
        .iter()
        .map(|p| match *p {
            Place::Free => None,
            Place::Worker(w) => Some(w),
            Place::Own => {
                sections += 1;
                Some(sections - 1)
            }
        })
        .collect();
    (pinned, sections)
}

/// The least cost of the busiest worker over all cuts of the free instances
/// (whose costs have the prefix sums `prefix`) into runs for the workers in
/// order, worker `w` also carrying `pinned_cost[w]`.
fn least_busiest(prefix: &[u64], pinned_cost: &[u64]) -> u64 {
    let n = prefix.len() - 1;
    // Filling each worker in turn as far as the bound allows leaves the
    // shortest rest for the next ones, so the bound can be met iff this
    // greedy fill places everything.
    let fits = |bound: u64| -> bool {
        let mut start = 0;
        for &p in pinned_cost {
            if p > bound {
                return false;
            }
            // The first end past the room, minus one: the longest run.
            start = prefix.partition_point(|&c| c.saturating_sub(prefix[start]) <= bound - p) - 1;
        }
        start == n
    };
    let mut lo = pinned_cost.iter().copied().max().unwrap_or(0);
    let mut hi = lo + prefix[n];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (busiest worker's cost, arcs between workers) of a schedule.
    fn score(cost: &[u64], arcs: &[(usize, usize)], sections: &[Vec<usize>]) -> (u64, usize) {
        score_on(sections.len(), cost, arcs, sections)
    }

    /// The same, with the busiest among the first `workers` sections (the
    /// others hold an instance of its own each).
    fn score_on(
        workers: usize,
        cost: &[u64],
        arcs: &[(usize, usize)],
        sections: &[Vec<usize>],
    ) -> (u64, usize) {
        let mut worker = vec![usize::MAX; cost.len()];
        for (w, s) in sections.iter().enumerate() {
            for &i in s {
                assert_eq!(worker[i], usize::MAX, "instance {i} is scheduled twice");
                worker[i] = w;
            }
        }
        assert!(
            worker.iter().all(|&w| w != usize::MAX),
            "an instance is left out"
        );
        let busiest = sections[..workers]
            .iter()
            .map(|s| s.iter().map(|&i| cost[i]).sum())
            .max()
            .unwrap_or(0);
        let cross = arcs
            .iter()
            .filter(|&&(f, t)| worker[f] != worker[t])
            .count();
        (busiest, cross)
    }

    fn chain(n: usize) -> Vec<(usize, usize)> {
        (1..n).map(|i| (i - 1, i)).collect()
    }

    fn in_order(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn a_chain_is_cut_into_balanced_runs_with_one_ring_between() {
        let s = sections(2, &[1; 6], &[Place::Free; 6], &chain(6), &in_order(6)).unwrap();
        assert_eq!(s, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        let s = sections(3, &[1; 7], &[Place::Free; 7], &chain(7), &in_order(7)).unwrap();
        assert_eq!(score(&[1; 7], &chain(7), &s), (3, 2));
    }

    #[test]
    fn cost_hints_move_the_cut() {
        // 1 + 4 against 1 + 1 + 1 beats any other cut.
        let cost = [1, 4, 1, 1, 1];
        let s = sections(2, &cost, &[Place::Free; 5], &chain(5), &in_order(5)).unwrap();
        assert_eq!(s, vec![vec![0, 1], vec![2, 3, 4]]);
    }

    #[test]
    fn pinned_instances_stay_on_their_worker_and_count_towards_its_cost() {
        // 0 -> 1 -> 2 -> 3, with 0 pinned to worker 1: worker 1 carries it,
        // so the rest goes two and one.
        let pinned = [Place::Worker(1), Place::Free, Place::Free, Place::Free];
        let s = sections(2, &[1; 4], &pinned, &chain(4), &in_order(4)).unwrap();
        assert_eq!(s, vec![vec![1, 2], vec![0, 3]]);
        assert_eq!(score(&[1; 4], &chain(4), &s), (2, 2));
    }

    #[test]
    fn a_heavy_pinned_worker_leaves_the_rest_uncut() {
        // Worker 2 carries 101 whatever the cut: the chain stays on one
        // worker, with no arc between workers.
        let cost = [1, 1, 1, 1, 100, 1];
        let pinned = [
            Place::Free,
            Place::Free,
            Place::Free,
            Place::Free,
            Place::Worker(2),
            Place::Worker(2),
        ];
        let arcs = [(0, 1), (1, 2), (2, 3), (4, 5)];
        let s = sections(3, &cost, &pinned, &arcs, &in_order(6)).unwrap();
        assert_eq!(score(&cost, &arcs, &s), (101, 0));
        assert_eq!(s[2], vec![4, 5]);
    }

    #[test]
    fn among_equally_balanced_cuts_the_fewest_cross_arcs_win() {
        // A chain of four on three workers: two, one and one has the same
        // busiest worker as two and two, but one more ring; so one worker
        // stays empty.
        let s = sections(3, &[1; 4], &[Place::Free; 4], &chain(4), &in_order(4)).unwrap();
        assert_eq!(score(&[1; 4], &chain(4), &s), (2, 1));
        assert_eq!(s, vec![vec![], vec![0, 1], vec![2, 3]]);
        // Two chains side by side, declared one after the other: cut
        // between them, not through one.
        let arcs = [(0, 1), (1, 2), (3, 4), (4, 5)];
        let s = sections(2, &[1; 6], &[Place::Free; 6], &arcs, &in_order(6)).unwrap();
        assert_eq!(score(&[1; 6], &arcs, &s), (3, 0));
    }

    #[test]
    fn an_instance_of_its_own_gets_a_section_after_the_workers_and_nothing_else() {
        // 0 -> 1 -> 2 -> 3 -> 4 with 2 blocking: the others share the one
        // worker; 2 is alone on section 1.
        let mut place = [Place::Free; 5];
        place[2] = Place::Own;
        let s = sections(1, &[1; 5], &place, &chain(5), &in_order(5)).unwrap();
        assert_eq!(s, vec![vec![0, 1, 3, 4], vec![2]]);
        // Two workers and two own instances, one of them heavy: the free
        // ones are cut over the workers only, the heavy one not counted
        // towards their balance.
        let cost = [1, 1, 50, 1, 1, 1];
        let place = [
            Place::Free,
            Place::Own,
            Place::Own,
            Place::Free,
            Place::Free,
            Place::Free,
        ];
        let s = sections(2, &cost, &place, &chain(6), &in_order(6)).unwrap();
        assert_eq!(s, vec![vec![0, 3], vec![4, 5], vec![1], vec![2]]);
    }

    #[test]
    fn sections_run_in_topological_order_pinned_instances_included() {
        // Declared sink, source, relay: wired 1 -> 2 -> 0, the relay pinned.
        let pinned = [Place::Free, Place::Free, Place::Worker(0)];
        let s = sections(1, &[1; 3], &pinned, &[(1, 2), (2, 0)], &[1, 2, 0]).unwrap();
        assert_eq!(s, vec![vec![1, 2, 0]]);
    }

    /// A small deterministic generator (xorshift), so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Every cut of n free instances into k runs, by brute force: the
    /// run of worker w is [cuts[w], cuts[w + 1]).
    fn all_cuts(n: usize, k: usize) -> Vec<Vec<usize>> {
        if k == 1 {
            return vec![vec![0, n]];
        }
        let mut out = Vec::new();
        for first in 0..=n {
            for rest in all_cuts(n - first, k - 1) {
                let mut c = vec![0];
                c.extend(rest.iter().map(|r| first + r));
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn the_schedule_is_as_good_as_the_best_of_all_cuts() {
        let mut rng = Rng(0x5eed_cafe);
        for _ in 0..400 {
            let n = 1 + rng.below(8) as usize;
            let k = 1 + rng.below(4) as usize;
            let cost: Vec<u64> = (0..n).map(|_| 1 + rng.below(4)).collect();
            let place: Vec<Place> = (0..n)
                .map(|_| match rng.below(8) {
                    0 | 1 => Place::Worker(rng.below(k as u64) as usize),
                    2 => Place::Own,
                    _ => Place::Free,
                })
                .collect();
            // Where the brute force puts pinned and own instances.
            let (pinned, own) = pins(&place, k);
            // Arcs go forward in declaration order, which is then a
            // topological order.
            let mut arcs = Vec::new();
            for t in 1..n {
                for f in 0..t {
                    if rng.below(3) == 0 {
                        arcs.push((f, t));
                    }
                }
            }
            let topo = in_order(n);
            let got = sections(k, &cost, &place, &arcs, &topo).unwrap();
            assert_eq!(
                got.len(),
                own,
                "one section per worker and per own instance"
            );
            let free: Vec<usize> = (0..n).filter(|&i| pinned[i].is_none()).collect();
            let best = all_cuts(free.len(), k)
                .into_iter()
                .map(|cuts| {
                    let mut s: Vec<Vec<usize>> = (0..own)
                        .map(|w| {
                            if w < k {
                                free[cuts[w]..cuts[w + 1]].to_vec()
                            } else {
                                Vec::new()
                            }
                        })
                        .collect();
                    for (i, w) in pinned.iter().enumerate() {
                        if let Some(w) = *w {
                            s[w].push(i);
                        }
                    }
                    score_on(k, &cost, &arcs, &s)
                })
                .min()
                .expect("at least one cut");
            assert_eq!(
                score_on(k, &cost, &arcs, &got),
                best,
                "cost {cost:?}, place {place:?}, arcs {arcs:?} on {k} workers: {got:?}"
            );
            for (w, s) in got.iter().enumerate() {
                assert!(
                    s.windows(2).all(|p| p[0] < p[1]),
                    "section {w} out of order"
                );
                for &i in s {
                    assert!(pinned[i].is_none_or(|p| p == w), "{i} is pinned elsewhere");
                }
            }
        }
    }

    #[test]
    fn a_count_and_pins_that_do_not_fit_are_refused() {
        assert_eq!(
            sections(0, &[1], &[Place::Free], &[], &[0]),
            Err(PlacementError::NoWorkers)
        );
        let pinned = [Place::Free, Place::Worker(1), Place::Worker(3)];
        assert_eq!(
            sections(2, &[1; 3], &pinned, &chain(3), &in_order(3)),
            Err(PlacementError::PinnedOutside {
                instance: 2,
                worker: 3,
                workers: 2
            })
        );
        assert!(sections(4, &[1; 3], &pinned, &chain(3), &in_order(3)).is_ok());
    }
}
