//! Graphs that must compile and run: each file of `pass/` is a program,
//! built here as a module of this test with the workspace's build of
//! evoflow, and its `main` run.

#[path = "../pass/fan_out_fan_in.rs"]
mod fan_out_fan_in;

#[test]
fn fan_out_fan_in_compiles_and_runs() {
    fan_out_fan_in::main();
}

#[path = "../pass/generic_type_concrete_impls.rs"]
mod generic_type_concrete_impls;

#[test]
fn generic_type_concrete_impls_compiles_and_runs() {
    generic_type_concrete_impls::main();
}

#[path = "../pass/machines.rs"]
mod machines;

#[test]
fn machines_compiles_and_runs() {
    machines::main();
}

#[path = "../pass/pinned_and_fan_in_on_one_port.rs"]
mod pinned_and_fan_in_on_one_port;

#[test]
fn pinned_and_fan_in_on_one_port_compiles_and_runs() {
    pinned_and_fan_in_on_one_port::main();
}

#[path = "../pass/sink_without_outputs_argument.rs"]
mod sink_without_outputs_argument;

#[test]
fn sink_without_outputs_argument_compiles_and_runs() {
    sink_without_outputs_argument::main();
}

#[path = "../pass/static_borrowed_packets.rs"]
mod static_borrowed_packets;

#[test]
fn static_borrowed_packets_compiles_and_runs() {
    static_borrowed_packets::main();
}

#[path = "../pass/supervised.rs"]
mod supervised;

#[test]
fn supervised_compiles_and_runs() {
    supervised::main();
}

#[path = "../pass/user_names_beside_generated_ones.rs"]
mod user_names_beside_generated_ones;

#[test]
fn user_names_beside_generated_ones_compiles_and_runs() {
    user_names_beside_generated_ones::main();
}

#[path = "../pass/workers_at_run_time.rs"]
mod workers_at_run_time;

#[test]
fn workers_at_run_time_compiles_and_runs() {
    workers_at_run_time::main();
}
