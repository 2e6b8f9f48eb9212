//! `moobius-host test` under the service's own config, as `run` applies
//! it: a URL `http_allow` refuses is refused in a test too (at the call, as
//! an error the script can catch, naming the host and port checked), the
//! config needs no credentials to be applied, and a broken one stops the
//! tests as it stops `run`. Also: a "Function not found" at run time shows
//! the call as written, the definitions, and the nearest name.

mod common;
use common::binary;
use std::path::Path;
use std::process::Command;

fn run_test(dir: &Path) -> (i32, String) {
    let out = Command::new(binary())
        .arg("test")
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), stdout)
}

/// A service directory: its script, one scenario file and, when given,
/// `config/config.json` (without any account: tests need none).
fn service(script: &str, scenario: &str, config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("scripts")).unwrap();
    std::fs::create_dir_all(p.join("tests/scenarios")).unwrap();
    std::fs::write(p.join("scripts/service.rhai"), script).unwrap();
    std::fs::write(p.join("tests/scenarios/s.rhai"), scenario).unwrap();
    if let Some(config) = config {
        std::fs::create_dir_all(p.join("config")).unwrap();
        std::fs::write(p.join("config/config.json"), config).unwrap();
    }
    dir
}

/// Posts to the URL a member says; a refusal is caught, said and saved.
const POSTER: &str = r#"
fn on_message_up(m) {
    let url = m.content.text;
    if url == "big" {
        let many = [];
        for i in 0..10 { many.push(i); }
    }
    let outcome = "";
    try {
        request(#{method: "POST", url: url, json: #{votes: 3}}, "posted");
        outcome = "started";
    } catch (e) {
        outcome = `refused: ${e}`;
    }
    let log = store(m.channel_id, "outcomes");
    log.last = outcome;
    send_message(`${outcome} (saved: ${log.last})`, m.channel_id, m.sender, [m.sender]);
}

fn posted(response) {}
"#;

const SCENARIO: &str = r#"
fn test_http_allow_is_applied() {
    respond("http://127.0.0.1:8765/*", #{text: "ok"});
    let alice = member("alice");
    alice.join();
    alice.say("http://127.0.0.1:8765/results");
    alice.say("http://127.0.0.1:8766/results");
    alice.say("http://127.0.0.1/results");
    assert_eq(alice.messages().map(|m| m.text), [
        "started (saved: started)",
        "refused: request: 127.0.0.1:8766 is not in service_config.http_allow (saved: refused: request: 127.0.0.1:8766 is not in service_config.http_allow)",
        "refused: request: 127.0.0.1:80 is not in service_config.http_allow (saved: refused: request: 127.0.0.1:80 is not in service_config.http_allow)",
    ]);
}

fn test_script_limits_are_applied() {
    expect_error("array");
    member("alice").say("big");
}
"#;

#[test]
fn the_services_config_applies_in_tests_as_under_run() {
    let config = r#"{
        "service_config": {"http_allow": ["127.0.0.1:8765"]},
        "script_limits": {"max_array_size": 5}
    }"#;
    let dir = service(POSTER, SCENARIO, Some(config));
    let (code, out) = run_test(dir.path());
    assert_eq!(out.lines().last(), Some("2 passed, 0 failed"), "{out}");
    assert_eq!(code, 0);
    // Without a config, loopback is refused as `run` refuses it.
    std::fs::remove_dir_all(dir.path().join("config")).unwrap();
    let (code, out) = run_test(dir.path());
    assert!(
        out.contains("refused: request: 127.0.0.1:8765 is not in service_config.http_allow"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("0 passed, 2 failed"), "{out}");
    assert_eq!(code, 1);
}

#[test]
fn a_config_that_does_not_load_stops_the_tests() {
    let config = r#"{"script_limits": {"timeout_ms": -5}}"#;
    let dir = service(POSTER, SCENARIO, Some(config));
    let (code, out) = run_test(dir.path());
    assert!(
        out.starts_with("error: ") && out.contains("script_limits.timeout_ms"),
        "{out}"
    );
    assert_eq!(code, 2);
}

#[test]
fn function_not_found_shows_the_call_the_definitions_and_the_nearest_name() {
    let script = "fn tally_text(channel_id, poll) { `${poll.len()} votes` }

fn on_message_up(message) {
    let poll = #{};
    if message.content.text == \"tally\" {
        let text = this.tally_text(poll);
    } else {
        send_mesage(message.channel_id, \"hi\", [message.sender], message.sender);
    }
}
";
    let scenario = "fn test_tally() {\n    member(\"alice\").say(\"tally\");\n}\n
fn test_typo() {\n    member(\"alice\").say(\"hi\");\n}\n
fn test_scenario_typo() {\n    let alice = membr(\"alice\");\n}\n";
    let dir = service(script, scenario, None);
    let (code, out) = run_test(dir.path());
    assert_eq!(code, 1);
    let intro = "a handler failed during this test (if that is intended, say so with expect_error(\"...\")):";
    assert!(
        out.contains(&format!("---- s.rhai::test_tally ----\n{intro}\n  scripts/service.rhai:6:25: Function not found: tally_text(poll) called; defined: tally_text(channel_id, poll) (in on_message_up)\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("---- s.rhai::test_typo ----\n{intro}\n  scripts/service.rhai:8:9: Function not found: send_mesage (string, string, array, string); did you mean `send_message`? (in on_message_up)\n")),
        "{out}"
    );
    assert!(
        out.contains(
            "---- s.rhai::test_scenario_typo ----
tests/scenarios/s.rhai:10:17: Function not found: membr (string); did you mean `member`?
   |
10 |     let alice = membr(\"alice\");
   |                 ^
"
        ),
        "{out}"
    );
}
