//! `graph!`: parse the declaration, check what can be checked from the
//! tokens alone, compute the static schedule (with `evoflow-graph`; at run
//! time if the worker count is not a literal), then emit the builder code
//! with spanned compile-time assertions for what only rustc can check
//! (port names and packet types).

mod check;
mod emit;
mod machines;
mod parse;
mod supervise;

use proc_macro2::TokenStream;

/// The graph's code, or every mistake found with the checks of the arcs
/// that could be read (so rustc adds the port and type mistakes among
/// them in the same compile).
pub(crate) fn expand(input: TokenStream) -> Result<TokenStream, (syn::Error, TokenStream)> {
    let decl: parse::GraphDecl = syn::parse2(input).map_err(|e| (e, TokenStream::new()))?;
    let (graph, errors) = check::check(decl);
    let root = crate::root();
    let mut errors = errors.into_iter();
    if let Some(mut first) = errors.next() {
        for e in errors {
            first.combine(e);
        }
        return Err((first, emit::emit_checks(&graph, &root)));
    }
    Ok(emit::emit(&graph, &root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// `graph!` input for a chain of `n` instances on `workers` workers.
    fn chain(n: usize, workers: usize) -> TokenStream {
        let mut src = format!("workers = {workers}; i0: Numbers;");
        for i in 1..n {
            src.push_str(&format!(" i{i}: Double; i{}.out -> i{i}.inp;", i - 1));
        }
        src.parse().expect("valid tokens")
    }

    fn time_expand(n: usize, workers: usize) -> Duration {
        let input = chain(n, workers);
        let start = Instant::now();
        assert!(expand(input).is_ok(), "a valid graph");
        start.elapsed()
    }

    #[test]
    fn a_thousand_instances_on_eight_workers_expand_in_well_under_a_second() {
        // Under 1 s alone in a debug build; the margin absorbs a busy
        // machine. The scheduler this replaced took minutes.
        let t = time_expand(1000, 8);
        assert!(t < Duration::from_secs(5), "{t:?}");
    }

    /// The expansion times in the README: `cargo test -p evoflow-macros --
    /// --ignored --nocapture expansion_times` (a debug build, as cargo
    /// builds proc macros).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn expansion_times() {
        let ms = |t: Duration| t.as_secs_f64() * 1e3;
        for n in [100, 400, 1000] {
            for workers in [1, 8] {
                // The best of three, against the noise of a shared machine.
                let t = (0..3).map(|_| time_expand(n, workers)).min().unwrap();
                let graph = syn::parse2(chain(n, workers)).map(check::check).unwrap().0;
                let start = Instant::now();
                let check::Placement { cost, place, arcs } = graph.placement();
                let s = evoflow_graph::sections(workers, &cost, &place, &arcs, &graph.topo);
                let scheduling = start.elapsed();
                assert_eq!(s.map(|s| s.len()), Ok(workers));
                println!(
                    "{n:>5} instances, {workers} worker(s): {:>8.1} ms, of which scheduling {:>6.1} ms",
                    ms(t),
                    ms(scheduling)
                );
            }
        }
    }
}
