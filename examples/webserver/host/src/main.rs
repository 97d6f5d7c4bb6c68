//! Runs the web server from its component library and live-updates it
//! from rebuilds: `run`, `reload`, `status` (see `evoflow::reload`).

fn main() -> std::process::ExitCode {
    evoflow::reload::cli::main("webserver_library")
}
