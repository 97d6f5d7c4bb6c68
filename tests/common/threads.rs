//! The CPUs a graph's worker threads may run on, read back from the
//! kernel: for the tests of `pin_workers`.

/// The CPUs each thread of this process named `evoflow-<graph>-<k>` (a
/// worker of graph `graph`) may run on, by `k`, as the kernel lists them
/// (`0-1`, `1`, ...). Two graphs of one name share the worker names.
pub fn worker_cpus(graph: &str) -> Vec<(usize, String)> {
    let prefix = format!("evoflow-{graph}-");
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // Workers only (the graph's other threads have names, not numbers).
        let Some(k) = name.trim().strip_prefix(&prefix) else {
            continue;
        };
        let Ok(k) = k.parse::<usize>() else {
            continue;
        };
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        found.push((k, cpus_allowed(&status)));
    }
    found.sort();
    found
}

/// The `Cpus_allowed_list` of a `/proc/.../status`.
pub fn cpus_allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned()
}
