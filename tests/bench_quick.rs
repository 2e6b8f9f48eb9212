//! The benchmark harness in its reduced size, so it cannot rot: every
//! workload runs against the host (and the Python SDK when one is set up)
//! and reports its figures. Figures themselves are not asserted here: they
//! belong to `bench/RESULTS.md`, measured in a release build.

use std::process::Command;

#[test]
fn quick_benchmark_runs_every_workload() {
    // `cargo test` builds the examples too: the benchmark is one.
    let host = std::path::Path::new(env!("CARGO_BIN_EXE_moobius-host"));
    let bench = host
        .parent()
        .expect("the binary has a directory")
        .join("examples")
        .join("bench");
    let mut cmd = Command::new(&bench);
    cmd.arg("--quick");
    if std::env::var_os("MOOBIUS_TEST_PYTHON").is_none() {
        eprintln!("note: MOOBIUS_TEST_PYTHON not set; the quick benchmark measures the host only");
        cmd.arg("--no-python");
    }
    let out = cmd.output().expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stderr}");
    for w in [
        "W1 refresh storm",
        "W2 join wave",
        "W3 fan-out",
        "W4 many channels",
    ] {
        assert!(
            stdout.contains(&format!("## {w}")),
            "{w} missing:\n{stdout}"
        );
    }
    assert!(!stderr.contains("host failed"), "{stderr}");
    assert!(stdout.contains("| done | 400 refreshes |"), "{stdout}");
    eprintln!("{stderr}");
}
