//! `moobius-host test` as an author runs it: the real binary in a copy of
//! this service directory, the shipped scenarios (the tutorial's story and
//! one file per example), a deliberately wrong assertion, `--filter`, and a
//! scenario that does not compile.

mod common;
use common::binary;
use std::path::Path;
use std::process::{Command, Output};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temp copy of the service: scripts, resources, scenarios and config.
fn service_copy() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scripts", "resources", "tests/scenarios", "config"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    dir
}

fn run_test(dir: &Path, args: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(binary())
        .arg("test")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&stdout).into_owned();
    eprintln!("{out}\n{}", String::from_utf8_lossy(&stderr));
    (status.code().unwrap_or(-1), out)
}

fn summary(out: &str) -> &str {
    out.lines().last().unwrap_or("")
}

#[test]
fn the_shipped_scenarios_pass() {
    let dir = service_copy();
    let (code, out) = run_test(dir.path(), &[]);
    let ok = out.lines().filter(|l| l.ends_with(" ... ok")).count();
    let files = [
        "tutorial",
        "groupchat",
        "buttons",
        "menucanvas",
        "meow",
        "countdown",
        "assistant",
        "bots",
    ];
    for file in files {
        assert!(
            out.contains(&format!("from tests/scenarios/{file}.rhai")),
            "{file} ran"
        );
    }
    assert!(ok >= 26, "{ok} tests passed");
    assert_eq!(summary(&out), format!("{ok} passed, 0 failed"));
    assert_eq!(code, 0);
    // The agents they made (Meow...) were recorded in each test's own
    // directory, never in the service directory.
    assert!(
        !dir.path().join("data").exists(),
        "test wrote into the service directory"
    );
}

#[test]
fn a_wrong_assertion_fails_with_a_readable_diff() {
    let dir = service_copy();
    let file = dir.path().join("wrong.rhai");
    std::fs::write(
        &file,
        "fn test_right() {\n    member(\"alice\").join();\n}\n\nfn test_wrong() {\n    let alice = member(\"alice\");\n    alice.join();\n    member(\"bob\").join();\n    assert_eq(alice.sees(), [\"alice\", \"Meow\"]);\n}\n",
    )
    .unwrap();
    let (code, out) = run_test(dir.path(), &["wrong.rhai"]);
    assert_eq!(code, 1);
    assert!(out.contains("test wrong.rhai::test_right ... ok\n"));
    assert!(out.contains("test wrong.rhai::test_wrong ... FAILED\n"));
    let expected = "---- wrong.rhai::test_wrong ----
wrong.rhai:9:5: assert_eq failed: the values differ
  |
9 |     assert_eq(alice.sees(), [\"alice\", \"Meow\"]);
  |     ^
   left: [\"alice\", \"Meow\", \"bob\"]
  right: [\"alice\", \"Meow\"]
  differences:
    [2]: left has \"bob\", right has nothing
";
    assert!(out.contains(expected), "the failure report:\n{out}");
    assert_eq!(summary(&out), "1 passed, 1 failed");
}

#[test]
fn filter_selects_tests_by_name() {
    let dir = service_copy();
    let (code, out) = run_test(
        dir.path(),
        &["tests/scenarios/tutorial.rhai", "--filter", "bob"],
    );
    assert_eq!(code, 0);
    let ran: Vec<&str> = out.lines().filter(|l| l.starts_with("test ")).collect();
    assert_eq!(
        ran,
        ["test tutorial.rhai::test_bob_joins_and_both_views_update ... ok"]
    );
    assert_eq!(summary(&out), "1 passed, 0 failed");
}

#[test]
fn a_scenario_that_does_not_compile_exits_2() {
    let dir = service_copy();
    std::fs::write(
        dir.path().join("broken.rhai"),
        "fn test_a() {\n    let = 1;\n}\n",
    )
    .unwrap();
    let (code, out) = run_test(dir.path(), &["broken.rhai"]);
    assert_eq!(code, 2);
    assert!(out.starts_with("broken.rhai:2:9: "), "{out}");
    assert_eq!(summary(&out), "0 passed, 0 failed");
}

/// A service of its own (`scripts/service.rhai`) with one scenario file.
fn service_with(script: &str, scenario: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::create_dir_all(dir.path().join("tests/scenarios")).unwrap();
    std::fs::write(dir.path().join("scripts/service.rhai"), script).unwrap();
    std::fs::write(dir.path().join("tests/scenarios/s.rhai"), scenario).unwrap();
    dir
}

/// The failure block of `test` in a `moobius-host test` report.
fn failure_block<'a>(out: &'a str, test: &str) -> &'a str {
    let head = format!("---- s.rhai::{test} ----\n");
    let Some(at) = out.find(&head) else {
        panic!("no failure block for {test} in:\n{out}");
    };
    let rest = &out[at + head.len()..];
    let end = rest
        .find("\n---- ")
        .or_else(|| rest.find("\n\n"))
        .unwrap_or(rest.len());
    rest[..end].trim_end()
}

#[test]
fn handler_errors_fail_their_test_unless_expected_and_show_in_its_failure() {
    let script = "fn on_message_up(m) {\n    if m.content.text == \"boom\" { throw \"boom is not welcome\"; }\n}\n";
    let scenario = "fn test_a_quiet_failure() {\n    member(\"bob\").say(\"boom\");\n}\n
fn test_an_expected_failure() {\n    expect_error(\"not welcome\");\n    member(\"bob\").say(\"boom\");\n}\n
fn test_an_expected_failure_that_never_comes() {\n    expect_error(\"not welcome\");\n    member(\"alice\").say(\"hi\");\n}\n
fn test_a_failed_assertion_after_an_error() {\n    let bob = member(\"bob\");\n    bob.say(\"boom\");\n    assert_eq(bob.messages(), [\"hi\"]);\n}\n
fn test_no_error() {\n    member(\"alice\").say(\"hi\");\n}\n";
    let dir = service_with(script, scenario);
    let (code, out) = run_test(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("test s.rhai::test_an_expected_failure ... ok\n"),
        "{out}"
    );
    assert!(out.contains("test s.rhai::test_no_error ... ok\n"), "{out}");
    let error_line =
        "scripts/service.rhai:2:35: Runtime error: boom is not welcome (in on_message_up)";
    assert_eq!(
        failure_block(&out, "test_a_quiet_failure"),
        format!("a handler failed during this test (if that is intended, say so with expect_error(\"...\")):\n  {error_line}")
    );
    assert_eq!(
        failure_block(&out, "test_an_expected_failure_that_never_comes"),
        "expect_error(\"not welcome\"): no handler error contained it"
    );
    let block = failure_block(&out, "test_a_failed_assertion_after_an_error");
    assert!(
        block.starts_with("tests/scenarios/s.rhai:18:5: assert_eq failed"),
        "{block}"
    );
    assert!(
        block.ends_with(&format!("handler errors during this test:\n  {error_line}")),
        "{block}"
    );
    assert_eq!(summary(&out), "2 passed, 3 failed");
}

#[test]
fn restart_keeps_the_stores_and_starts_this_afresh() {
    let script = "fn on_message_up(m) {
    let counts = store(m.channel_id, \"counts\");
    counts.said = (counts.said ?? 0) + 1;
    this.said = (this.said ?? 0) + 1;
    send_message(#{text: `stored ${counts.said}, in this ${this.said}`, channel_id: m.channel_id, sender: m.sender, recipients: [m.sender]});
}
";
    let scenario = "fn test_restart() {
    let alice = member(\"alice\");
    alice.join();
    alice.say(\"one\");
    alice.say(\"two\");
    restart();
    alice.say(\"three\");
    let answers = alice.messages().map(|m| m.text).filter(|t| t.starts_with(\"stored\"));
    assert_eq(answers, [\"stored 1, in this 1\", \"stored 2, in this 2\", \"stored 3, in this 1\"]);
}
";
    let dir = service_with(script, scenario);
    let (code, out) = run_test(dir.path(), &[]);
    assert_eq!(summary(&out), "1 passed, 0 failed", "{out}");
    assert_eq!(code, 0);
    assert!(
        !dir.path().join("data/store.redb").exists(),
        "a test's stores live in a directory of its own"
    );
}

/// Gives the service in `dir` a config whose `script_limits` are `limits`.
fn set_script_limits(dir: &Path, limits: serde_json::Value) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    common::write_json(
        &dir.join("config/config.json"),
        &serde_json::json!({
            "account_config": {"email": "a@b.c", "password": "pw"},
            "script_limits": limits
        }),
    );
}

/// Why a test with `test_timeout_ms: 500` that ran too long failed.
const OVER_500_MS: &str = "ran longer than 500 ms (script_limits.test_timeout_ms)";

/// The failure block of `test`, defined at `line` of `s.rhai` and aborted
/// by a limit (reported at its definition) because `why`.
fn aborted_at(line: usize, test: &str, why: &str) -> String {
    format!("tests/scenarios/s.rhai:{line}:1: {test} aborted: {why}\n  |\n{line} | fn {test}() {{\n  | ^")
}

/// `moobius-host test` in `dir` as a child process, waited for with the
/// deadline (a test with no limits would never end): (exit code, output).
async fn run_test_within_deadline(dir: &Path) -> (Option<i32>, String) {
    let logs = tempfile::tempdir().unwrap();
    let mut run = common::HostProcess::spawn_in(&["test"], logs.path(), Some(dir));
    let status = run.exited().await;
    (status.code(), run.log())
}

#[tokio::test]
async fn scenario_tests_run_under_the_script_limits_and_bots_stay_inside() {
    let outside = tempfile::Builder::new().suffix(".rhai").tempfile().unwrap();
    std::fs::write(outside.path(), "fn helper() {}\n").unwrap();
    let outside_name = outside.path().file_name().unwrap().to_string_lossy();
    let scenario = format!(
        "fn test_loop() {{\n    loop {{ }}\n}}\n
fn test_doubling() {{\n    let s = \"x\";\n    for i in 0..40 {{ s += s; }}\n}}\n
fn test_bot_climbing_out() {{\n    bot(\"robot\", \"../{outside_name}\");\n}}\n
fn test_bot_absolute() {{\n    bot(\"robot\", \"/etc/passwd\");\n}}\n"
    );
    let dir = service_with("fn on_refresh(a) { }\n", &scenario);
    set_script_limits(dir.path(), serde_json::json!({"test_timeout_ms": 500}));
    let (code, out) = run_test_within_deadline(dir.path()).await;
    eprintln!("{out}");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        failure_block(&out, "test_loop"),
        aborted_at(1, "test_loop", OVER_500_MS)
    );
    assert_eq!(
        failure_block(&out, "test_doubling"),
        aborted_at(
            5,
            "test_doubling",
            "Length of string larger than 4194304 (script_limits.max_string_size)"
        )
    );
    let block = failure_block(&out, "test_bot_climbing_out");
    assert!(
        block.contains(&format!(
            "bot \"robot\": ../{outside_name}: resolves outside the service directory"
        )),
        "{block}"
    );
    let block = failure_block(&out, "test_bot_absolute");
    assert!(
        block.contains("bot \"robot\": /etc/passwd: absolute paths are not allowed"),
        "{block}"
    );
    assert_eq!(summary(&out), "0 passed, 4 failed");
}

/// `advance` loops in Rust (a firing, then settling), never reaching the
/// test engine's progress check: the test's time is checked there too.
#[tokio::test]
async fn a_long_advance_with_a_busy_timer_ends_at_the_test_timeout() {
    let script = "fn on_start() { every(10, \"tick\"); }\n\nfn tick() { }\n";
    let scenario = "fn test_far_ahead() {\n    advance(10000000000);\n}\n";
    let dir = service_with(script, scenario);
    set_script_limits(dir.path(), serde_json::json!({"test_timeout_ms": 500}));
    let (code, out) = run_test_within_deadline(dir.path()).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        failure_block(&out, "test_far_ahead"),
        aborted_at(1, "test_far_ahead", OVER_500_MS)
    );
    assert_eq!(summary(&out), "0 passed, 1 failed");
}

/// A handler a limit aborted is reported at the handler (Rhai gives such
/// errors no position): here through a scenario's failure block.
#[test]
fn a_limit_abort_names_the_handlers_line() {
    let script =
        "fn helper() { }\n\nfn on_join(action) {\n    let n = 0;\n    loop { n += 1; }\n}\n";
    let dir = service_with(
        script,
        "fn test_join() {\n    member(\"alice\").join();\n}\n",
    );
    set_script_limits(dir.path(), serde_json::json!({"max_operations": 1000}));
    let (code, out) = run_test(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        failure_block(&out, "test_join"),
        "a handler failed during this test (if that is intended, say so with expect_error(\"...\")):
  scripts/service.rhai:3:1: on_join aborted: more than 1000 operations (script_limits.max_operations)"
    );
}

#[test]
fn a_scenario_sends_spells_and_sees_the_requests_made() {
    let script = r#"fn on_spell(value) {
    if value.fail == true { throw "no such spell"; }
    request(#{method: "POST", url: "http://api.test/v1/notes", headers: #{"x-key": "k1"},
              json: #{note: value.note}}, "noted", ());
    #{took: value.note, channel: value.channel_id ?? "none"}
}
fn noted(response) { this.noted = response.status; }
"#;
    let scenario = r#"fn test_spells() {
    respond("http://api.test/*", #{status: 201});
    member("alice").join();
    let answer = spell(#{note: "buy milk"});
    assert_eq(answer, #{took: "buy milk", channel: "none"});
    assert_eq(spell(#{note: "two", channel_id: "elsewhere"}).channel, "elsewhere");
    let sent = requests();
    assert_eq(sent.len(), 2);
    assert_eq(sent[0].method, "POST");
    assert_eq(sent[0].url, "http://api.test/v1/notes");
    assert_eq(sent[0].headers["x-key"], "k1");
    assert_eq(sent[0].json, #{note: "buy milk"});
    assert_eq(sent[1].body, "{\"note\":\"two\"}");
}

fn test_an_expected_spell_failure() {
    expect_error("no such spell");
    assert_eq(spell(#{fail: true}), ());
    assert_eq(requests(), []);
}

fn test_an_unexpected_spell_failure() {
    spell(#{fail: true});
}
"#;
    let dir = service_with(script, scenario);
    let (code, out) = run_test(dir.path(), &[]);
    assert_eq!(summary(&out), "2 passed, 1 failed", "{out}");
    assert_eq!(code, 1);
    let block = failure_block(&out, "test_an_unexpected_spell_failure");
    assert!(
        block.contains("spell: ") && block.contains("no such spell"),
        "{block}"
    );
}
