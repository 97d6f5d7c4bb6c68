//! Records the compiler and target this crate is built with: a component
//! library built by another compiler cannot share memory with the host.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_else(|| panic!("cannot run `{rustc} -vV` to record the compiler version"));
    println!("cargo:rustc-env=EVOFLOW_RUSTC={version}");
    println!(
        "cargo:rustc-env=EVOFLOW_TARGET={}",
        std::env::var("TARGET").expect("cargo sets TARGET for build scripts")
    );
    println!("cargo:rerun-if-changed=build.rs");
}
