//! `moobius-host check` (golden output: the exact text an author sees) and
//! `moobius-host new` followed by `moobius-host test`.

mod common;
use common::binary;
use std::path::Path;
use std::process::Command;

/// Runs the binary in `dir`; (exit code, stdout).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), stdout)
}

fn service(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("scripts/service.rhai"), script).unwrap();
    dir
}

#[test]
fn a_syntax_error_shows_the_line_and_a_caret() {
    let dir = service("fn on_join(action) {\n    let members = ;\n}\n");
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(
        out,
        "scripts/service.rhai:2:19: Unexpected ';'
  |
2 |     let members = ;
  |                   ^

checked 1 file: 1 error, 0 warnings
"
    );
    assert_eq!(code, 2);
}

#[test]
fn misspelled_handlers_are_warned_about() {
    let dir = service("fn on_joined(action) {}\n\nfn on_refresh() {}\n");
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(
        out,
        "scripts/service.rhai:1:1: warning: on_joined is not a handler the host calls; did you mean on_join?
  |
1 | fn on_joined(action) {}
  | ^

scripts/service.rhai:3:1: warning: handler on_refresh takes 1 parameter, not 0; the host never calls it
  |
3 | fn on_refresh() {}
  | ^

checked 1 file: 0 errors, 2 warnings
"
    );
    assert_eq!(code, 0);
    let (code, _) = run(dir.path(), &["check", "--deny-warnings"]);
    assert_eq!(code, 1);
}

#[test]
fn a_wrong_argument_count_is_warned_about() {
    let dir = service(
        "fn on_join(action) {\n    send_characters([action.sender], action.channel_id);\n}\n",
    );
    let (code, out) = run(dir.path(), &["check", "--deny-warnings"]);
    assert_eq!(
        out,
        "scripts/service.rhai:2:5: warning: send_characters takes 3 arguments, not 2
  |
2 |     send_characters([action.sender], action.channel_id);
  |     ^

checked 1 file: 0 errors, 1 warning
"
    );
    assert_eq!(code, 1);
}

#[test]
fn the_repository_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out) = run(root, &["check", "--deny-warnings"]);
    assert!(out.ends_with("0 errors, 0 warnings\n"), "{out}");
    assert_eq!(code, 0);
}

#[test]
fn new_then_test_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out) = run(tmp.path(), &["new", "hello"]);
    assert_eq!(code, 0);
    assert!(out.contains("cd hello && moobius-host dev"), "{out}");
    let dir = tmp.path().join("hello");
    assert_eq!(
        std::fs::read(dir.join("resources/avatar.png")).unwrap(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("resources/avatar.png")).unwrap()
    );
    let ignored = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    for what in ["downloads/", "data/", "logs/"] {
        assert!(
            ignored.lines().any(|l| l == what),
            "{what} is not ignored: {ignored}"
        );
    }
    let (code, out) = run(&dir, &["test"]);
    assert_eq!(out.lines().last(), Some("2 passed, 0 failed"), "{out}");
    assert_eq!(code, 0);
    let (code, _) = run(&dir, &["check", "--deny-warnings"]);
    assert_eq!(code, 0);
    // The scaffold's db_config example is read: a near miss is pointed out.
    let script = dir.join("scripts/service.rhai");
    let mut text = std::fs::read_to_string(&script).unwrap();
    text.push_str("\nfn on_message_up(m) {\n    let s = store(m.channel_id, \"stat\");\n}\n");
    std::fs::write(&script, text).unwrap();
    let (code, out) = run(&dir, &["check"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("store \"stat\" is not in db_config (it lists \"state\")"),
        "{out}"
    );
    assert!(out.contains("did you mean `state`"), "{out}");
    let (code, _) = run(tmp.path(), &["new", "hello"]);
    assert_eq!(code, 1, "an existing non-empty directory is refused");
}

#[test]
fn a_store_name_db_config_does_not_list_is_warned_about() {
    let dir = service(
        "fn on_message_up(m) {\n    let scores = store(m.channel_id, \"score\");\n    scores.set(m.sender, 1);\n}\n",
    );
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/config.json"),
        r#"{"db_config": [{"name": "scores"}]}"#,
    )
    .unwrap();
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(
        out,
        "scripts/service.rhai:2:38: warning: store \"score\" is not in db_config (it lists \"scores\"), so under run it is an embedded store of its own; did you mean `scores`?
  |
2 |     let scores = store(m.channel_id, \"score\");
  |                                      ^

checked 1 file: 0 errors, 1 warning
"
    );
    assert_eq!(code, 0);
    let (code, _) = run(dir.path(), &["check", "--deny-warnings"]);
    assert_eq!(code, 1);
}

#[test]
fn calls_to_own_functions_without_this_or_with_the_wrong_count_are_warned_about() {
    let dir = service(
        "fn on_join(action) {\n    sync_channel(action.channel_id);\n    this.ask(action.sender);\n}\n\nfn sync_channel(channel_id) { this.members = fetch_member_ids(channel_id); }\n\nfn ask(member_id, question) { this.asked = question; }\n",
    );
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(
        out,
        "scripts/service.rhai:2:5: warning: sync_channel uses `this`, so call it as `this.sync_channel(..)`: a plain call fails with \"'this' not bound\"
  |
2 |     sync_channel(action.channel_id);
  |     ^

scripts/service.rhai:3:10: warning: ask is called with 1 argument, but it is defined as ask(member_id, question)
  |
3 |     this.ask(action.sender);
  |          ^

checked 1 file: 0 errors, 2 warnings
"
    );
    assert_eq!(code, 0);
}

#[test]
fn scenario_tests_are_checked_too() {
    let dir = service("fn on_join(action) {}\n");
    let scenarios = dir.path().join("tests/scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("broken.rhai"),
        "fn test_a() {\n    let alice = member(\"alice\")\n    alice.join();\n}\n",
    )
    .unwrap();
    std::fs::write(
        scenarios.join("calls.rhai"),
        "fn joined(who) { who.join(); }\n\nfn test_b() {\n    joined();\n    let alice = member(\"alice\");\n}\n",
    )
    .unwrap();
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(
        out,
        "tests/scenarios/broken.rhai:3:5: Expecting ';' to terminate this statement
  |
3 |     alice.join();
  |     ^

tests/scenarios/calls.rhai:4:5: warning: joined is called with 0 arguments, but it is defined as joined(who)
  |
4 |     joined();
  |     ^

checked 3 files: 1 error, 1 warning
"
    );
    assert_eq!(code, 2);
}

#[test]
fn unknown_functions_are_warned_about_with_a_suggestion() {
    let dir = service(
        "import \"util\" as util;

fn on_message_up(message) {
    let text = util::shout(message.content.text);
    if text.len() > 0 && is_def_fn(\"shout\", 1) {
        send_mesage(message.channel_id, text, [message.sender], message.sender);
    }
}

fn exclaim(text) { text + \"!\" }
",
    );
    // A module may call the entry's functions (Rhai looks there too).
    std::fs::write(
        dir.path().join("scripts/util.rhai"),
        "fn shout(text) { exclaim(to_uper(text)) }\n",
    )
    .unwrap();
    let scenarios = dir.path().join("tests/scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("basic.rhai"),
        "fn test_shout() {\n    let alice = membr(\"alice\");\n    alice.say(\"hi\");\n}\n",
    )
    .unwrap();
    let (code, out) = run(dir.path(), &["check", "--deny-warnings"]);
    assert_eq!(
        out,
        "scripts/service.rhai:6:9: warning: send_mesage is not a function (not Rhai's, the host's, nor this file's); did you mean `send_message`?
  |
6 |         send_mesage(message.channel_id, text, [message.sender], message.sender);
  |         ^

scripts/util.rhai:1:26: warning: to_uper is not a function (not Rhai's, the host's, nor the service scripts'); did you mean `to_upper`?
  |
1 | fn shout(text) { exclaim(to_uper(text)) }
  |                          ^

tests/scenarios/basic.rhai:2:17: warning: membr is not a function (not Rhai's, a scenario's, nor this file's); did you mean `member`?
  |
2 |     let alice = membr(\"alice\");
  |                 ^

checked 3 files: 0 errors, 3 warnings
"
    );
    assert_eq!(code, 1);
}

#[test]
fn misspelled_callbacks_are_warned_about_with_a_suggestion() {
    let dir = service(
        "fn on_message_up(message) {
    let ch = message.channel_id;
    after(60000, \"close_pol\", ch);
    request(#{url: \"https://example.com/\"}, \"postd\", ch);
    after(1000, \"close_poll\", ch);
    request(#{url: \"https://example.com/\"}, \"posted\", ch);
    every(1000, \"tick\");
}

fn close_poll(channel_id) {}
fn posted(response, channel_id) {}
fn tick(channel_id) {}
",
    );
    let (code, out) = run(dir.path(), &["check", "--deny-warnings"]);
    assert_eq!(
        out,
        "scripts/service.rhai:3:18: warning: after calls back \"close_pol\", but no script function has that name, so it is never called; did you mean `close_poll`?
  |
3 |     after(60000, \"close_pol\", ch);
  |                  ^

scripts/service.rhai:4:45: warning: request calls back \"postd\", but no script function has that name, so it is never called; did you mean `posted`?
  |
4 |     request(#{url: \"https://example.com/\"}, \"postd\", ch);
  |                                             ^

scripts/service.rhai:7:17: warning: every calls back \"tick\" with 0 arguments, but it is defined as tick(channel_id), so it is never called
  |
7 |     every(1000, \"tick\");
  |                 ^

checked 1 file: 0 errors, 3 warnings
"
    );
    assert_eq!(code, 1);
}
