//! A second machine on one box: a network namespace joined to this one by
//! a veth pair. Shared by the arc tests and the machines tests
//! (`#[path]`); cargo runs test binaries one at a time, so they never
//! hold it at once.

#![allow(dead_code)]

use std::process::Command;

/// Runs `cmd` (a shell line), panicking with its output if it fails.
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace `evonet-b` joined to this one by a veth pair
/// (10.77.0.1 here, 10.77.0.2 there): a second machine on one box.
pub struct Link;

impl Link {
    /// The link, or why it cannot be made here (not root, no `ip`).
    pub fn up() -> Result<Link, String> {
        Link::remove();
        let made = Command::new("ip")
            .args(["netns", "add", "evonet-b"])
            .output()
            .map_err(|e| format!("no `ip` command: {e}"))?;
        if !made.status.success() {
            return Err(format!(
                "cannot make a network namespace (root is needed): {}",
                String::from_utf8_lossy(&made.stderr).trim()
            ));
        }
        let link = Link;
        sh("ip link add evonet-a type veth peer name evonet-b netns evonet-b");
        sh("ip addr add 10.77.0.1/24 dev evonet-a && ip link set evonet-a up");
        sh("ip netns exec evonet-b sh -c 'ip addr add 10.77.0.2/24 dev evonet-b && ip link set evonet-b up && ip link set lo up'");
        Ok(link)
    }
}

impl Link {
    /// Removes the namespace and the veth pair, if they exist (a run
    /// killed midway leaves them).
    fn remove() {
        let _ = Command::new("ip")
            .args(["netns", "del", "evonet-b"])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", "evonet-a"])
            .output();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        Link::remove();
    }
}
