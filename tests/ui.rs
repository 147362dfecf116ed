//! Compile-fail tests: each file in `tests/ui/` is a mistake a user can make,
//! and its `.stderr` is the message they see. Re-record intended changes with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.
//!
//! Compiler messages change between Rust versions, so this runs only on the
//! stable version the `.stderr` files were recorded with.

#[rustversion::attr(not(stable(1.95)), ignore = "the .stderr files were recorded with rustc 1.95")]
#[test]
fn bad_macro_input_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
