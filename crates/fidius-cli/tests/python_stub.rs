//! `fidius python-stub`: the hash it writes is the macro's for every method
//! kind, the output is valid Python, and errors name what is wrong.

use assert_cmd::Command;
use std::path::Path;

fn fidius() -> Command {
    Command::cargo_bin("fidius").unwrap()
}

fn smoke_src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke/src/lib.rs")
}

#[test]
fn the_stub_hash_is_the_macros_for_every_method_kind() {
    use test_plugin_smoke::*;
    let cases = [
        (
            "Calculator",
            __fidius_Calculator::Calculator_PYTHON_DESCRIPTOR.interface_hash,
        ),
        (
            "BytePipe",
            __fidius_BytePipe::BytePipe_PYTHON_DESCRIPTOR.interface_hash,
        ),
        (
            "Fallible",
            __fidius_Fallible::Fallible_PYTHON_DESCRIPTOR.interface_hash,
        ),
        (
            "StreamWorks",
            __fidius_StreamWorks::StreamWorks_PYTHON_DESCRIPTOR.interface_hash,
        ),
        (
            "Ticker",
            __fidius_Ticker::Ticker_PYTHON_DESCRIPTOR.interface_hash,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, hash) in cases {
        let out = dir.path().join(format!("{name}.py"));
        fidius()
            .args(["python-stub", "--trait-name", name, "--interface"])
            .arg(smoke_src())
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains(&format!("__interface_hash__ = {hash:#018x}")),
            "{name}: {text}"
        );
        // Valid Python (compiled, not run).
        let status = std::process::Command::new("python3")
            .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "{name}: the stub is not valid Python:\n{text}"
        );
    }
    let calc = std::fs::read_to_string(dir.path().join("Calculator.py")).unwrap();
    assert!(calc.contains("class AddInput(TypedDict):"), "{calc}");
    assert!(
        calc.contains("def add(input: \"AddInput\") -> \"AddOutput\":"),
        "{calc}"
    );
    let streams = std::fs::read_to_string(dir.path().join("StreamWorks.py")).unwrap();
    assert!(
        streams.contains("def sum(items: Iterator[int]) -> int:"),
        "{streams}"
    );
}

#[test]
fn stdout_and_errors() {
    let out = fidius()
        .args([
            "python-stub",
            "--trait-name",
            "Greeter",
            "--out",
            "-",
            "--interface",
        ])
        .arg(smoke_src())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("def greet(name: str) -> str:"), "{text}");
    let several = fidius()
        .args(["python-stub", "--out", "-", "--interface"])
        .arg(smoke_src())
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&several.get_output().stderr).into_owned();
    assert!(
        err.contains("several") && err.contains("Calculator"),
        "{err}"
    );
    fidius()
        .args([
            "python-stub",
            "--out",
            "-",
            "--interface",
            "/no/such/file.rs",
        ])
        .assert()
        .failure();
}
