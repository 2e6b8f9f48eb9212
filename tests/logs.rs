//! Logs as operators expect: `--log-format json` gives one JSON object per
//! line (with the span fields), also in a `log_file` set to rotate as the
//! SDK's `log_retention` says, with nothing secret in either.

mod common;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_and_a_rotated_log_file() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    svc.set_config_key(
        "log_config",
        json!({
            "terminal_log_level": "INFO",
            "log_level": "DEBUG",
            "log_file": "logs/service.log",
            "log_retention": {"rotation": "1 hour", "retention": "1 day"},
        }),
    );
    let dir = svc.path().display().to_string();
    let host = HostProcess::spawn_with_env(
        &["run", "--dir", &dir, "--log-format", "json"],
        svc.path(),
        None,
        &[("NO_COLOR", "1")],
    );
    wait_served(&c, &ch).await;
    host.wait_logged("the host is connected", &["connected to the platform"])
        .await;

    let stderr = host.log();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
        assert!(l["fields"]["message"].is_string(), "{l}");
    }

    // The current file keeps its name (older hours get `.YYYY-MM-DD-HH`).
    let file = svc.path().join("logs/service.log");
    let text = wait_for("the log file has lines", || {
        let t = std::fs::read_to_string(&file).unwrap_or_default();
        async move { t.contains("connected to the platform").then_some(t) }
    })
    .await;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let everything = format!("{stderr}{text}");
    assert!(!everything.contains("pw-for-tests"), "the password leaked");
}
