//! Every diagnostic of `#[component]` and `graph!`, pinned by its `.stderr`,
//! and graphs that must compile and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
