//! Compile-fail behaviour of the macros: every misuse gives a spanned error
//! that says what to write instead (pinned by the `.stderr` files).

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
