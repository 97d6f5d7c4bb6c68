//! The host of the reload example: all it knows is the name of the
//! component library; `run`, `reload` and `status` come from evoflow.

fn main() -> std::process::ExitCode {
    evoflow::reload::cli::main("reload_components")
}
