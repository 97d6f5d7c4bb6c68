//! Every diagnostic of `#[component]` and `graph!`, pinned by its `.stderr`.
//! (The graphs that must compile and run are `tests/pass.rs`: with one
//! passing case, trybuild builds every case with full code generation, one
//! cargo run each, instead of checking them all in one.)

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
}
