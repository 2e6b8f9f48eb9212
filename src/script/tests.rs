//! The script engine on its own: the tutorial's Rhai reads as intended,
//! `this` persists, errors point at the right line. The platform side is a
//! recording `HostApi`, since no network is involved at this level; the
//! end-to-end tests in `tests/` use the real sandbox.

use super::*;
use crate::protocol::IdList;
use rhai::Dynamic;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Default)]
struct Recorder {
    members: RefCell<Vec<String>>,
    sent: RefCell<Vec<(Vec<String>, Vec<String>)>>,
}

impl HostApi for Recorder {
    fn member_ids(&self, _: &str) -> crate::script::HostResult<Vec<String>> {
        Ok(self.members.borrow().clone())
    }
    fn send_characters(&self, _: &str, c: IdList, r: IdList) -> crate::script::HostResult<()> {
        self.sent.borrow_mut().push((c.to_vec(), r.to_vec()));
        Ok(())
    }
    fn create_agent(
        &self,
        p: &crate::script::AgentProfile,
    ) -> crate::script::HostResult<Character> {
        Ok(Character {
            character_id: format!("agent-{}", p.name),
            name: p.name.clone(),
            avatar: None,
            description: Some(p.description.clone()),
        })
    }
    fn fetch_agents(&self) -> crate::script::HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn fetch_profiles(&self, ids: Vec<String>) -> crate::script::HostResult<Vec<Character>> {
        Err(HostCallError::Refused(format!("no profiles for {ids:?}")))
    }
}

fn load(
    text: &str,
) -> (
    tempfile::TempDir,
    Rc<Recorder>,
    Result<ServiceScript, Diagnostic>,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    let main = dir.path().join("scripts/service.rhai");
    std::fs::write(&main, text).unwrap();
    let rec = Rc::new(Recorder::default());
    let opts = CompileOptions::for_main(&main).with_display_base(dir.path());
    let s = ServiceScript::load(&opts, rec.clone());
    (dir, rec, s)
}

fn tutorial() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/service.rhai");
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn tutorial_views_put_self_first_then_meow() {
    let (_d, rec, s) = load(&tutorial());
    let mut s = s.unwrap();
    assert!(s.has("on_join", 1) && s.has("before_channel_init", 0) && !s.has("on_start", 0));
    s.call("before_channel_init", vec![]).unwrap();
    *rec.members.borrow_mut() = vec!["a".into(), "b".into(), "c".into()];
    assert!(s.call("on_channel_checkin", vec!["ch".into()]).unwrap());
    let sent = rec.sent.borrow().clone();
    let views: Vec<(Vec<&str>, &str)> = sent
        .iter()
        .map(|(c, r)| (c.iter().map(String::as_str).collect(), r[0].as_str()))
        .collect();
    assert_eq!(
        views,
        vec![
            (vec!["a", "agent-Meow", "b", "c"], "a"),
            (vec!["b", "agent-Meow", "a", "c"], "b"),
            (vec!["c", "agent-Meow", "a", "b"], "c"),
        ]
    );
    // `this` kept the members between calls
    assert!(s.this().to_string().contains("ch"));
    assert!(!s.call("on_start", vec![]).unwrap());
}

#[test]
fn syntax_error_points_at_line_and_column() {
    let (_d, _r, s) = load("fn on_join(a) {\n    let x = ;\n}\n");
    let d = s.err().unwrap();
    assert_eq!(d.path, "scripts/service.rhai");
    assert_eq!(d.line, 2);
    assert!(d.to_string().starts_with("scripts/service.rhai:2:"), "{d}");
}

#[test]
fn runtime_error_names_innermost_position_and_call_chain() {
    let (_d, _r, s) =
        load("fn on_start() { this.helper(); }\nfn helper() {\n  let x = 1;\n  x.nope();\n}\n");
    let mut s = s.unwrap();
    let e = s.call("on_start", vec![]).unwrap_err();
    assert_eq!(e.failure, HandlerFailure::Script, "{e}");
    let d = e.diagnostic;
    assert_eq!(
        (d.path.as_str(), d.line),
        ("scripts/service.rhai", 4),
        "{d}"
    );
    assert!(
        d.message.contains("nope") && d.message.contains("helper <- on_start"),
        "{d}"
    );
}

/// A handler's failure is classed by where it came from, not by its words:
/// a host function's failure stays the host's when the script re-throws it
/// as it is, and becomes the script's own when the script throws its own.
#[test]
fn handler_failures_are_classed_by_their_source() {
    let cases = [
        ("fetch_character_profile(\"x\");", HandlerFailure::HostCall),
        (
            "try { fetch_character_profile(\"x\"); } catch (e) { throw e; }",
            HandlerFailure::HostCall,
        ),
        (
            "try { fetch_character_profile(\"x\"); } catch (e) { throw `mine: ${e}`; }",
            HandlerFailure::Script,
        ),
        (
            "throw \"on_start aborted: a limit?\";",
            HandlerFailure::Script,
        ),
        (
            "send_characters([1], \"ch\", \"a\");",
            HandlerFailure::Script,
        ),
    ];
    for (body, want) in cases {
        let (_d, _r, s) = load(&format!("fn on_start() {{\n  {body}\n}}\n"));
        let e = s.unwrap().call("on_start", vec![]).unwrap_err();
        assert_eq!(e.failure, want, "{body}: {e}");
    }
    let e = load("fn on_start() {\n  fetch_character_profile(\"x\");\n}\n")
        .2
        .unwrap()
        .call("on_start", vec![])
        .unwrap_err();
    assert!(e.to_string().contains("no profiles for"), "{e}");
}

#[test]
fn plain_call_without_this_is_reported() {
    let (_d, _r, s) = load("fn on_start() { helper(); }\nfn helper() { this.x = 1; }\n");
    let mut s = s.unwrap();
    let d = s.call("on_start", vec![]).unwrap_err();
    assert!(d.to_string().contains("this"), "{d}");
}

#[test]
fn bad_arguments_are_script_errors_naming_the_argument() {
    let (_d, _r, s) = load("fn on_start() { send_characters([1], \"ch\", \"a\"); }\n");
    let mut s = s.unwrap();
    let e = s.call("on_start", vec![]).unwrap_err();
    assert_eq!(e.failure, HandlerFailure::Script, "{e}");
    let d = e.diagnostic;
    assert!(d.message.contains("characters[0]"), "{d}");
    assert_eq!(d.line, 1);
}

#[test]
fn imports_outside_the_scripts_dir_are_refused() {
    let (_d, _r, s) = load("import \"../secret\" as s;\nfn on_start() {}\n");
    let d = s.err().unwrap();
    assert!(d.message.contains("outside the scripts directory"), "{d}");
}

#[test]
fn imported_module_functions_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("scripts/util.rhai"),
        "fn double(x) { x * 2 }\n",
    )
    .unwrap();
    let main = dir.path().join("scripts/service.rhai");
    std::fs::write(
        &main,
        "import \"util\" as util;\nfn on_start() { this.v = util::double(21); }\n",
    )
    .unwrap();
    let rec: Rc<dyn HostApi> = Rc::new(Recorder::default());
    let mut s = ServiceScript::load(&CompileOptions::for_main(&main), rec).unwrap();
    assert_eq!(s.files().len(), 2);
    s.call("on_start", vec![]).unwrap();
    assert!(s.this().to_string().contains("42"), "{}", s.this());
}

#[test]
fn top_level_code_is_refused_with_its_position() {
    let (_d, _r, s) = load("fn on_start() {}\n\nlet x = 1;\n");
    let d = s.err().unwrap();
    assert_eq!(d.line, 3, "{d}");
    assert!(d.message.contains("top level"), "{d}");
}

#[test]
fn every_example_script_compiles() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut scripts = vec![root.join("service.rhai")];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        scripts.push(entry.unwrap().path());
    }
    assert!(scripts.len() >= 5);
    for main in scripts {
        let rec: Rc<dyn HostApi> = Rc::new(Recorder::default());
        if let Err(d) = ServiceScript::load(&CompileOptions::for_main(&main), rec) {
            panic!("{}: {d}", main.display());
        }
    }
}

/// Each (call, expected message part): a wrong argument shape is a script
/// error naming the function and the argument.
#[test]
fn wrong_argument_shapes_name_function_and_argument() {
    let cases = [
        ("send_characters(\"a\", \"ch\", 5)", "send_characters: recipients is i64"),
        ("send_characters([], \"ch\", \"a\")", "send_characters: characters is empty"),
        ("send_buttons(#{button_id: \"a\"}, \"ch\", \"a\")", "send_buttons: buttons[0].button_text: missing"),
        ("send_buttons([#{button_id: \"a\", button_text: \"A\", dialog: 3}], \"ch\", \"a\")", "send_buttons: buttons[0].dialog: expected a map"),
        ("send_canvas(#{txt: \"hi\"}, \"ch\", \"a\")", "send_canvas: items[0].txt: unknown field"),
        ("send_menu([#{menu_item_id: \"m\", menu_item_text: \"M\", message_subtypes: 4}], \"ch\", \"a\")", "send_menu: items[0].message_subtypes: expected a string or an array of strings"),
        ("send_style([#{widget: \"canvas\", display: \"shiny\"}], \"ch\", \"a\")", "send_style: items[0].display: \"shiny\" is not one of"),
        ("update_channel_info(\"ch\", #{channel_description: \"d\"})", "update_channel_info: info.channel_name: missing"),
        ("send_message(\"hi\", \"ch\", 5, \"a\")", "send_message: sender is i64"),
        ("send_message(#{text: \"hi\", channel_id: \"ch\", recipients: \"a\"})", "send_message: sender is missing"),
        ("send_message(#{text: \"hi\", channel_id: \"ch\", sender: \"s\"})", "send_message: recipients is missing"),
        ("send_message(#{text: \"hi\", colour: 1})", "send_message: message.colour: unknown field"),
        ("send_message(#{subtype: \"video\", text: \"x\", channel_id: \"c\", sender: \"s\", recipients: \"a\"})", "send_message: subtype \"video\" is not one of"),
        ("send_message(#{subtype: \"image\", channel_id: \"c\", sender: \"s\", recipients: \"a\"})", "send_message: a image message needs a path"),
        ("update_agent(5, #{name: \"x\"})", "update_agent: character is i64"),
        ("update_agent(\"id\", #{nom: \"x\"})", "update_agent: changes.nom: unknown field"),
        ("fetch_character_profile(3.5)", "fetch_character_profile: ids is f64"),
        ("fetch_message_history(\"ch\", 0)", "fetch_message_history: limit must be positive"),
        ("after(0, \"f\")", "after: ms: 0 is out of range (expected 1 to 2592000000 ms)"),
        ("after(-5, \"f\", 1)", "after: ms: -5 is out of range"),
        ("after(99999999999, \"f\")", "after: ms: 99999999999 is out of range"),
        ("every(5, \"f\")", "every: ms: 5 is out of range (expected 10 to"),
        ("after(10, 42)", "after: callback: expected a function name (string), got i64"),
        ("after(10, \"not a name\")", "after: callback: \"not a name\" is not a function name"),
        ("after(10, |x| x)", "after: the callback must be a named function"),
        ("request(#{url: \"ftp://x\"}, \"f\")", "request: url: \"ftp://x\" is not an http(s) URL"),
        ("request(#{}, \"f\")", "request: url: missing"),
        ("request(#{url: \"http://a\", verb: \"GET\"}, \"f\")", "request: verb: unknown field"),
        ("request(#{url: \"http://a\", method: \"BREW\"}, \"f\")", "request: method: \"BREW\" is not one of"),
        ("request(#{url: \"http://a\", body: \"x\", json: 1}, \"f\")", "request: give body or json, not both"),
        ("request(#{url: \"http://a\", timeout_ms: 0}, \"f\")", "request: timeout_ms: expected a positive whole number"),
        ("request(#{url: \"http://a\", headers: #{a: 1}}, \"f\")", "request: headers.a: expected a string"),
        ("create_agent(#{avatar: \"x\"})", "create_agent: name: missing"),
        ("create_agent(#{name: \"x\", fresh: \"yes\"})", "create_agent: fresh: expected true or false"),
    ];
    for (call, want) in cases {
        let (_d, _r, s) = load(&format!("fn on_start() {{\n  {call};\n}}\n"));
        let mut s = s.unwrap();
        let d = s.call("on_start", vec![]).unwrap_err().diagnostic;
        assert!(d.message.contains(want), "{call}: {d}");
        assert_eq!(d.line, 2, "{call}: {d}");
        // The script stays usable after the error.
        let again = s.call("on_start", vec![]).unwrap_err();
        assert!(!again.diagnostic.message.is_empty());
    }
}

fn load_limited(text: &str, limits: ScriptLimits) -> (tempfile::TempDir, ServiceScript) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    let main = dir.path().join("scripts/service.rhai");
    std::fs::write(&main, text).unwrap();
    let mut opts = CompileOptions::for_main(&main).with_display_base(dir.path());
    opts.limits = limits;
    let rec: Rc<dyn HostApi> = Rc::new(Recorder::default());
    let s = ServiceScript::load(&opts, rec).unwrap();
    (dir, s)
}

#[test]
fn runaway_handlers_are_aborted_naming_the_limit_and_the_next_call_works() {
    // Deep Rhai recursion needs the script thread's large stack.
    std::thread::Builder::new()
        .stack_size(crate::script::SCRIPT_THREAD_STACK)
        .spawn(runaway_cases)
        .unwrap()
        .join()
        .unwrap();
}

fn runaway_cases() {
    let limits = ScriptLimits {
        timeout: std::time::Duration::from_millis(100),
        max_operations: 0,
        max_array_size: 1_000,
        ..ScriptLimits::default()
    };
    let script = r#"
fn on_start() { this.before = 1; loop { } }
fn on_join(a) { this.deep(0); }
fn deep(n) { this.deep(n + 1) }
fn on_leave(a) { let s = "x"; loop { s += s; } }
fn on_refresh(a) { let v = []; loop { v.push(1); } }
fn on_reload() { this.after = 2; }
"#;
    let (_d, mut s) = load_limited(script, limits.clone());
    let cases = [
        (
            "on_start",
            vec![],
            "ran longer than 100 ms (script_limits.timeout_ms)",
        ),
        (
            "on_join",
            vec![Dynamic::UNIT],
            "nested deeper than 64 (script_limits.max_call_levels)",
        ),
        (
            "on_leave",
            vec![Dynamic::UNIT],
            "(script_limits.max_string_size)",
        ),
        (
            "on_refresh",
            vec![Dynamic::UNIT],
            "larger than 1000 (script_limits.max_array_size)",
        ),
    ];
    for (handler, args, want) in cases {
        let started = std::time::Instant::now();
        let e = s.call(handler, args).unwrap_err();
        assert_eq!(e.failure, HandlerFailure::Limit, "{handler}: {e}");
        let d = e.diagnostic;
        assert!(
            d.message.starts_with(handler) && d.message.contains(want),
            "{handler}: {d}"
        );
        // Not a speed target: only proves nothing hangs.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{handler} was not stopped"
        );
        assert!(
            s.call("on_reload", vec![]).unwrap(),
            "the next call runs normally"
        );
    }
    let this = s.this().to_string();
    assert!(
        this.contains("before") && this.contains("after"),
        "aborted handlers keep their changes to this: {this}"
    );

    let (_d, mut s) = load_limited(
        "fn on_start() { let n = 0; loop { n += 1; } }",
        ScriptLimits {
            max_operations: 10_000,
            ..limits
        },
    );
    let d = s.call("on_start", vec![]).unwrap_err().diagnostic;
    assert!(
        d.message
            .contains("more than 10000 operations (script_limits.max_operations)"),
        "{d}"
    );
}

/// The deepest nesting a config may allow runs on the script thread's stack
/// without overflowing it, for the simple recursion and for the shape with
/// the largest frames measured (see `MAX_CALL_LEVELS_CAP`); one level more
/// is Rhai's own error, not a crash.
#[test]
fn recursion_at_the_call_level_cap_fits_the_script_thread_stack() {
    std::thread::Builder::new()
        .stack_size(crate::script::SCRIPT_THREAD_STACK)
        .spawn(recursion_at_the_cap)
        .unwrap()
        .join()
        .unwrap();
}

fn recursion_at_the_cap() {
    let cap = crate::script::MAX_CALL_LEVELS_CAP;
    let limits = ScriptLimits {
        max_call_levels: cap,
        max_operations: 0,
        timeout: std::time::Duration::from_secs(600),
        ..ScriptLimits::default()
    };
    let (open, close) = ("abs(".repeat(28), ")".repeat(28));
    let script = format!(
        "fn on_join(n) {{ f(n) }}\nfn on_leave(n) {{ g(n) }}\n\
         fn f(n) {{ if n == 0 {{ 0 }} else {{ f(n - 1) + 1 }} }}\n\
         fn g(n) {{ if n == 0 {{ return 0; }} {open}g(n - 1){close} }}\n"
    );
    let (_d, mut s) = load_limited(&script, limits);
    let depth = cap as i64 - 1; // the handler's own call is one level
    for handler in ["on_join", "on_leave"] {
        assert!(
            s.call(handler, vec![Dynamic::from(depth)]).unwrap(),
            "{handler}"
        );
        let d = s
            .call(handler, vec![Dynamic::from(depth + 1)])
            .unwrap_err()
            .diagnostic;
        assert!(
            d.message.contains(&format!(
                "nested deeper than {cap} (script_limits.max_call_levels)"
            )),
            "{handler}: {d}"
        );
    }
}

/// Errors name types as a script author knows them (`string`, `unit`,
/// `map`), not as Rust does (`ImmutableString`, `()`).
#[test]
fn errors_speak_rhai_not_rust() {
    let cases = [
        (
            "let s = \" X \"; let t = s.trim(); t.to_lower();",
            "Function not found: to_lower() called with (unit); defined: to_lower(character), to_lower(string)",
        ),
        ("ask(#{}, \"q\");", "Function not found: ask (map, string)"),
    ];
    for (body, want) in cases {
        let (_d, _r, s) = load(&format!("fn on_start() {{\n  {body}\n}}\n"));
        let d = s.unwrap().call("on_start", vec![]).unwrap_err().diagnostic;
        assert!(d.message.contains(want), "{body}: {d}");
        assert!(!d.message.contains("ImmutableString"), "{d}");
    }
}

/// Rhai gives a limit's abort no position: the diagnostic points at the
/// handler that was running (its definition line), not at 0:0.
#[test]
fn a_limit_abort_is_reported_at_the_handler() {
    let limits = ScriptLimits {
        max_operations: 1_000,
        ..ScriptLimits::default()
    };
    let script = "fn helper() { }\n\nfn on_join(a) {\n    let n = 0;\n    loop { n += 1; }\n}\n";
    let (_d, mut s) = load_limited(script, limits);
    let d = s.call("on_join", vec![Dynamic::UNIT]).unwrap_err();
    assert_eq!(
        d.to_string(),
        "scripts/service.rhai:3:1: on_join aborted: more than 1000 operations (script_limits.max_operations)"
    );
}
