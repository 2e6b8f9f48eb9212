//! The config loader's rules, one case at a time.

use super::*;
use crate::script::ScriptLimits;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn load_in(dir: &tempfile::TempDir) -> Result<Config, ConfigError> {
    load(
        &dir.path().join("config/config.json"),
        dir.path(),
        &Overrides::default(),
    )
}

#[test]
fn sections_as_files_with_defaults() {
    let d = dir_with(&[
        (
            "config/config.json",
            r#"{"account_config":"config/account.json","service_config":"config/service.json"}"#,
        ),
        (
            "config/account.json",
            r#"{"email":"a@b.c","password":"pw"}"#,
        ),
        (
            "config/service.json",
            r#"{"service_id":"","channels":["c1"],"others":" Ignore "}"#,
        ),
    ]);
    let c = load_in(&d).unwrap();
    assert_eq!(c.account.email, "a@b.c");
    assert_eq!(c.service.http_server_uri, DEFAULT_HTTP_SERVER_URI);
    assert_eq!(c.service.service_id, None);
    assert_eq!(c.service.others, OthersPolicy::Ignore);
    assert_eq!(c.service.checkin_interval, Some(Duration::from_secs(3600)));
    assert_eq!(
        c.service_id_target,
        ServiceIdTarget::TopLevel(d.path().join("config/service.json"))
    );
    assert_eq!(c.log.log_level, "INFO");
}

#[test]
fn inline_sections_write_back_nested() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"a@b.c","password":"pw"},"service_config":{"checkin_interval":0}}"#,
    )]);
    let c = load_in(&d).unwrap();
    assert_eq!(c.service.checkin_interval, None);
    assert_eq!(
        c.service_id_target,
        ServiceIdTarget::Nested(d.path().join("config/config.json"))
    );
}

#[test]
fn errors_name_file_and_key() {
    let cases = [
        (
            r#"{"account_config":{"password":"pw"}}"#,
            "config.json: account_config.email: missing",
        ),
        (
            r#"{"account_config":{"email":"a","password":"p"},"service_config":{"others":"maybe"}}"#,
            "service_config.others: unknown policy",
        ),
        (
            r#"{"account_config":{"email":"a","password":"p"},"service_config":{"http_server_uri":"not a url"}}"#,
            "service_config.http_server_uri: not a valid URL",
        ),
        (
            r#"{"account_config":{"email":"a","password":"p"},"service_config":{"ws_server_uri":"http://x/"}}"#,
            "service_config.ws_server_uri: URL scheme must be ws or wss",
        ),
        (
            r#"{"account_config":"config/missing.json"}"#,
            "config.json: account_config: cannot read",
        ),
        ("{nope", "config.json: (file): not valid JSON"),
    ];
    for (text, expected) in cases {
        let d = dir_with(&[("config/config.json", text)]);
        let msg = load_in(&d).unwrap_err().to_string();
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
        assert!(!msg.contains('\n'));
    }
}

#[test]
fn script_limits_are_read_and_checked() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"a","password":"p"},"script_limits":{"timeout_ms":250,"max_operations":1000}}"#,
    )]);
    let c = load_in(&d).unwrap();
    assert_eq!(c.script_limits.timeout, Duration::from_millis(250));
    assert_eq!(c.script_limits.max_operations, 1000);
    assert_eq!(
        c.script_limits.max_call_levels,
        ScriptLimits::default().max_call_levels
    );
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"a","password":"p"},"script_limits":{"timeout":5}}"#,
    )]);
    assert!(load_in(&d)
        .unwrap_err()
        .to_string()
        .contains("script_limits.timeout: unknown limit"));
}

#[cfg(unix)]
#[test]
fn world_readable_credentials_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir_with(&[
        (
            "config/config.json",
            r#"{"account_config":"config/account.json"}"#,
        ),
        (
            "config/account.json",
            r#"{"email":"a@b.c","password":"pw"}"#,
        ),
    ]);
    let account = d.path().join("config/account.json");
    std::fs::set_permissions(&account, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = load_in(&d).unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].contains("account.json holds a password") && !c.warnings[0].contains("pw\"")
    );
    std::fs::set_permissions(&account, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load_in(&d).unwrap().warnings.is_empty());
}

#[test]
fn env_overrides_win_and_password_never_prints() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"file@x","password":"filepw"}}"#,
    )]);
    let o = Overrides {
        email: Some("env@x".into()),
        password: Some(Secret::new("envpw")),
    };
    let c = load(&d.path().join("config/config.json"), d.path(), &o).unwrap();
    assert_eq!(c.account.email, "env@x");
    assert_eq!(c.account.password.expose(), "envpw");
    assert!(!format!("{c:?}").contains("envpw"));
}

/// A named pipe given as a section file used to block the start for ever.
#[cfg(unix)]
#[test]
fn a_fifo_as_a_section_file_is_refused() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":"config/fifo.json"}"#,
    )]);
    let fifo = d.path().join("config/fifo.json");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipped: mkfifo is not available ({other:?})");
            return;
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (config, base) = (d.path().join("config/config.json"), d.path().to_path_buf());
    std::thread::spawn(move || {
        let _ = tx.send(load(&config, &base, &Overrides::default()).map(|_| ()));
    });
    let result = rx.recv_timeout(Duration::from_secs(20));
    if result.is_err() {
        // Unblock the loader stuck in open() before failing.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    let msg = result
        .expect("loading a config naming a FIFO must not block")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("config.json: account_config: cannot read")
            && msg.contains("fifo.json: not a regular file (a FIFO)"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn unknown_keys_are_warned_about_with_a_suggestion() {
    let d = dir_with(&[
        (
            "config/config.json",
            r#"{"account_config":{"email":"a","password":"p","Email":"x"},
                "acount_config":{},
                "service_config":"config/service.json",
                "log_config":{"logfile":"x.log"}}"#,
        ),
        (
            "config/service.json",
            r#"{"heartbeat_intervl":5,"colour":"red","Checkin-Interval":1,"a\nb":1}"#,
        ),
    ]);
    let c = load_in(&d).unwrap();
    let dir = d.path().display().to_string();
    let mut got: Vec<String> = c
        .warnings
        .iter()
        .filter(|w| !w.contains("holds a password"))
        .map(|w| w.replace(&dir, "D"))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "D/config/config.json: account_config.Email: unknown key, ignored; did you mean `email`?",
            "D/config/config.json: acount_config: unknown key, ignored; did you mean `account_config`?",
            "D/config/config.json: log_config.logfile: unknown key, ignored; did you mean `log_file`?",
            "D/config/service.json: Checkin-Interval: unknown key, ignored; did you mean `checkin_interval`?",
            "D/config/service.json: a\\nb: unknown key, ignored",
            "D/config/service.json: colour: unknown key, ignored",
            "D/config/service.json: heartbeat_intervl: unknown key, ignored; did you mean `heartbeat_interval`?",
        ]
    );
    // The default stays: the misspelled key did nothing.
    assert_eq!(c.service.heartbeat_interval, Duration::from_secs(30));
}

/// Keys the SDK's config has, used by the host or not, never warn.
#[test]
fn an_sdk_config_gets_no_warning() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"a","password":"p"},
            "service_config":{"http_server_uri":"https://api.moobius.ai/","ws_server_uri":"wss://ws.moobius.ai/",
              "service_id":"","channels":[],"others":"include","checkin_interval":30,"service_mode":true,
              "no_warn_cannot_save_service_id":true,"heartbeat_interval":30,"reconnect_min_ms":250,
              "reconnect_max_ms":30000,"outgoing_queue_limit":10000},
            "log_config":{"log_level":"INFO","terminal_log_level":"INFO","error_log_level":"WARNING",
              "log_retention":"7 days","log_file":"logs/service.log","error_log_file":"logs/error.log"},
            "db_config":[],
            "script_limits":{"timeout_ms":1000}}"#,
    )]);
    let c = load_in(&d).unwrap();
    let about_keys: Vec<&String> = c.warnings.iter().filter(|w| w.contains("key")).collect();
    assert!(about_keys.is_empty(), "{about_keys:?}");
}

#[test]
fn an_unknown_limit_is_an_error_with_a_suggestion() {
    let d = dir_with(&[(
        "config/config.json",
        r#"{"account_config":{"email":"a","password":"p"},"script_limits":{"max_call_level":8}}"#,
    )]);
    let msg = load_in(&d).unwrap_err().to_string();
    assert!(
        msg.contains("script_limits.max_call_level: unknown limit; did you mean `max_call_levels`? (expected timeout_ms, max_operations,"),
        "{msg}"
    );
}

/// Loads a config whose `service_config` is `service` (JSON text) and
/// `log_config` is `log`.
fn with_sections(service: &str, log: &str) -> Result<Config, ConfigError> {
    let text = format!(
        r#"{{"account_config":{{"email":"a","password":"p"}},"service_config":{service},"log_config":{log}}}"#
    );
    load_in(&dir_with(&[("config/config.json", &text)]))
}

#[test]
fn operator_keys_admin_requests_and_logs() {
    let c = with_sections(
        r#"{"admin":"127.0.0.1:9100","http_allow":["api.example.com","*.example.org"],"request_timeout_ms":500}"#,
        r#"{"log_format":"json","log_retention":{"rotation":"1 hour","retention":"1 day"}}"#,
    )
    .unwrap();
    assert_eq!(c.service.admin, "127.0.0.1:9100".parse().ok());
    assert!(!c.service.admin_public);
    assert!(c.service.requests.allows("api.example.com", None));
    assert!(c.service.requests.allows("x.example.org", None));
    assert!(!c.service.requests.allows("example.net", None));
    assert_eq!(
        c.service.requests.default_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(
        c.log.rotation,
        LogRotation {
            every_secs: Some(3600),
            keep: 24
        }
    );

    let plain = with_sections("{}", r#"{"log_retention":"7 days"}"#).unwrap();
    assert_eq!(
        plain.log.rotation.every_secs, None,
        "a string retention: no rotation, as in the SDK"
    );
    assert_eq!(plain.service.admin, None);

    for (service, log, want) in [
        (r#"{"admin":"localhost"}"#, "{}", "service_config.admin"),
        (
            r#"{"admin_public":"yes"}"#,
            "{}",
            "service_config.admin_public",
        ),
        (
            r#"{"http_allow":["https://x.y/"]}"#,
            "{}",
            "service_config.http_allow",
        ),
        (
            r#"{"request_timeout_ms":90000,"request_timeout_max_ms":60000}"#,
            "{}",
            "request_timeout_max_ms",
        ),
        ("{}", r#"{"log_format":"xml"}"#, "log_config.log_format"),
        (
            "{}",
            r#"{"log_retention":{"rotation":"1 fortnight"}}"#,
            "log_config.log_retention",
        ),
    ] {
        let e = with_sections(service, log).unwrap_err().to_string();
        assert!(e.contains(want), "{service} {log}: {e}");
    }
}

#[test]
fn the_body_cap_is_never_above_the_string_limit() {
    let load = |service: &str, limits: &str| {
        let text = format!(
            r#"{{"account_config":{{"email":"a","password":"p"}},"service_config":{service},"script_limits":{limits}}}"#
        );
        load_in(&dir_with(&[("config/config.json", &text)])).unwrap()
    };
    let defaults = load("{}", "{}");
    let strings = crate::script::ScriptLimits::default().max_string_size as u64;
    assert_eq!(defaults.service.requests.max_body_bytes, strings);
    let about_cap = |c: &Config| -> Vec<String> {
        let w = c
            .warnings
            .iter()
            .filter(|w| w.contains("request_max_bytes"));
        w.cloned().collect()
    };
    assert!(about_cap(&defaults).is_empty(), "{:?}", defaults.warnings);
    let given = load(
        r#"{"request_max_bytes":2000000}"#,
        r#"{"max_string_size":1000000}"#,
    );
    assert_eq!(given.service.requests.max_body_bytes, 1_000_000);
    assert_eq!(
        about_cap(&given),
        ["service_config.request_max_bytes (2000000) is above script_limits.max_string_size (1000000): response bodies are cut at 1000000 bytes"]
    );
    let unlimited = load(
        r#"{"request_max_bytes":2000000}"#,
        r#"{"max_string_size":0}"#,
    );
    assert_eq!(unlimited.service.requests.max_body_bytes, 2_000_000);
}
