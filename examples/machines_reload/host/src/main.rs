//! The host of the across-machines example: the same binary runs on every
//! machine (`run --machine front|back --etcd URL`); `reload` and `status`
//! come from evoflow.

fn main() -> std::process::ExitCode {
    evoflow::reload::cli::main("machines_reload_components")
}
