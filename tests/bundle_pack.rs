//! Packing and the bundle commands: reproducible bytes, no credentials,
//! metadata from `bundle.toml`, `SOURCE_DATE_EPOCH` and `--version`; a
//! tampered bundle stops `run` before any network; every command explains
//! itself in `--help`.

mod common;
use common::bundle::*;
use common::*;
use std::process::Command;

/// A service directory whose config holds credentials in every way it can.
fn dir_with_secrets() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for sub in ["scripts", "resources", "config", "tests/scenarios"] {
        std::fs::create_dir_all(p.join(sub)).unwrap();
    }
    std::fs::write(p.join("scripts/service.rhai"), tutorial()).unwrap();
    std::fs::write(p.join("scripts/.service.rhai.swp"), "editor junk").unwrap();
    std::fs::copy(
        repo_root().join("resources/avatar.png"),
        p.join("resources/avatar.png"),
    )
    .unwrap();
    std::fs::write(p.join("tests/scenarios/join.rhai"), "fn scenario() { }\n").unwrap();
    std::fs::write(p.join("notes.txt"), "not packed").unwrap();
    std::fs::write(
        p.join("bundle.toml"),
        "name = \"zero\"\nversion = \"3.1.4\"\n",
    )
    .unwrap();
    write_json(
        &p.join("config/config.json"),
        &serde_json::json!({
            "account_config": "config/account.json",
            "service_config": "config/service.json",
            "log_config": {"terminal_log_level": "INFO", "api_token": "tok-SECRET-3"}
        }),
    );
    write_json(
        &p.join("config/account.json"),
        &serde_json::json!({"email": "owner@secret.example", "password": "pw-SECRET-1"}),
    );
    write_json(
        &p.join("config/service.json"),
        &serde_json::json!({"channels": ["c1"], "password": "pw-SECRET-2"}),
    );
    d
}

#[test]
fn packing_is_reproducible_and_never_holds_credentials() {
    let src = dir_with_secrets();
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("a.mbx"), out.path().join("b.mbx"));
    let m = moobius_host::bundle::pack(src.path(), &a, None).unwrap();
    moobius_host::bundle::pack(src.path(), &b, None).unwrap();
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "identical bytes"
    );
    assert_eq!((m.name.as_str(), m.version.as_str()), ("zero", "3.1.4"));
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "config/config.json",
            "config/service.json",
            "resources/avatar.png",
            "scripts/service.rhai",
            "tests/scenarios/join.rhai"
        ]
    );
    let tar = untar(&std::fs::read(&a).unwrap());
    for secret in [
        "pw-SECRET-1",
        "pw-SECRET-2",
        "tok-SECRET-3",
        "owner@secret.example",
        "account",
    ] {
        assert!(
            !tar.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the bundle"
        );
    }

    // The binary: SOURCE_DATE_EPOCH sets the time, --version the version,
    // and inspect --json shows both.
    let c = out.path().join("c.mbx");
    let packed = Command::new(binary())
        .args(["bundle", "pack"])
        .arg(src.path())
        .args(["-o", c.to_str().unwrap(), "--version", "9.9.9"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    let shown = cli(
        &["bundle", "inspect", "--json", c.to_str().unwrap()],
        out.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(v["manifest"]["version"], "9.9.9");
    assert_eq!(v["manifest"]["created_unix"], 1_700_000_000u64);
    assert_eq!(v["manifest"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(v["entries"][0]["path"], "manifest.json");
    let human = cli(&["bundle", "inspect", c.to_str().unwrap()], out.path());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("version:          9.9.9") && text.contains("scripts/service.rhai"),
        "{text}"
    );
}

#[test]
fn a_hostile_bundle_stops_run_before_any_network_and_help_explains_bundles() {
    let d = dir_with_secrets();
    let tmp = tempfile::tempdir().unwrap();
    let file = d.path().join("s.mbx");
    moobius_host::bundle::pack(d.path(), &file, None).unwrap();
    std::fs::write(&file, tampered(&std::fs::read(&file).unwrap())).unwrap();
    // The config points at a port nothing listens on: exit 2 proves the
    // bundle was refused before any connection was tried.
    write_json(
        &d.path().join("config/service.json"),
        &serde_json::json!({"http_server_uri": "http://127.0.0.1:9/", "ws_server_uri": "ws://127.0.0.1:9/", "channels": []}),
    );
    let dir = d.path().display().to_string();
    let out = cli(
        &["run", "--dir", &dir, "--bundle", file.to_str().unwrap()],
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SHA-256") && stderr.contains("scripts/service.rhai"),
        "{stderr}"
    );
    assert!(unpack_dirs(tmp.path()).is_empty());

    for (args, needle) in [
        (&["bundle", "--help"][..], "tar tzf"),
        (&["bundle", "pack", "--help"], "SOURCE_DATE_EPOCH"),
        (&["bundle", "inspect", "--help"], "--json"),
        (&["bundle", "verify", "--help"], "without network"),
        (&["run", "--help"], "--bundle"),
    ] {
        let out = cli(args, tmp.path());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(needle),
            "{args:?}: {text}"
        );
    }
}

/// A new bundle is 0644; one packed over an existing file keeps that file's
/// mode (an author who made it private keeps it private).
#[cfg(unix)]
#[test]
fn a_bundle_replacing_a_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let src = dir_with_secrets();
    let out = tempfile::tempdir().unwrap();
    let new = out.path().join("new.mbx");
    moobius_host::bundle::pack(src.path(), &new, None).unwrap();
    assert_eq!(mode(&new), 0o644);
    let old = out.path().join("old.mbx");
    std::fs::write(&old, "an older bundle").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o640)).unwrap();
    moobius_host::bundle::pack(src.path(), &old, None).unwrap();
    assert_eq!(mode(&old), 0o640);
    assert_eq!(std::fs::read(&old).unwrap(), std::fs::read(&new).unwrap());
}

/// Every secret value of `dir_with_hidden_credentials`, to look for.
const HIDDEN: [&str; 23] = [
    "SECRET-QUERY-PASS",
    "SECRET-QUERY-PASSWORD",
    "SECRET-QUERY-USER",
    "SECRET-PASSPHRASE",
    "SECRET-REDIS-PASS",
    "SECRET-ACCOUNT",
    "SECRET-REDIS-1",
    "SECRET-REDIS-2",
    "SECRET-REDIS-USER",
    "SECRET-HOOK",
    "SECRET-HOOK-USER",
    "SECRET-PASSWD",
    "SECRET-PWD",
    "SECRET-PKEY-1",
    "SECRET-PKEY-2",
    "SECRET-AUTH-1",
    "SECRET-AUTH-2",
    "SECRET-AUTHZ",
    "SECRET-BEARER",
    "SECRET-COOKIE-1",
    "SECRET-COOKIE-2",
    "SECRET-SIG",
    "SECRET-SVC",
];

/// A service whose config hides credentials in URLs and under the less
/// obvious key names, next to keys that only look similar.
fn dir_with_hidden_credentials() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir_all(p.join("scripts")).unwrap();
    std::fs::create_dir_all(p.join("config")).unwrap();
    std::fs::write(p.join("scripts/service.rhai"), tutorial()).unwrap();
    write_json(
        &p.join("config/config.json"),
        &serde_json::json!({
            "account_config": {"email": "o@x.example", "password": "SECRET-ACCOUNT"},
            "service_config": "config/service.json",
            "db_config": [
                {"implementation": "redis", "redis_url": "redis://:SECRET-REDIS-1@127.0.0.1:6379/0"},
                {"implementation": "redis", "redis_url": "redis://SECRET-REDIS-USER:SECRET-REDIS-2@cache.internal:6380/1"}
            ],
            "hooks": {"urls": [
                "https://SECRET-HOOK-USER:SECRET-HOOK@hooks.example/in?x=1",
                "https://plain.example/",
                "redis+unix:///run/redis.sock?db=2&pass=SECRET-QUERY-PASS&user=SECRET-QUERY-USER",
                "redis://cache.internal:6381/?PASSWORD=SECRET-QUERY-PASSWORD"
            ]},
            "extras": {
                "passwd": "SECRET-PASSWD", "dbPwd": "SECRET-PWD",
                "PRIVATE_KEY": "SECRET-PKEY-1", "sshPrivateKey": "SECRET-PKEY-2",
                "auth": "SECRET-AUTH-1", "proxyAuth": {"user": "SECRET-AUTH-2"},
                "Authorization": "Basic SECRET-AUTHZ", "bearer": "SECRET-BEARER",
                "session_cookie": "SECRET-COOKIE-1", "sessionCookie": "SECRET-COOKIE-2",
                "url_sig": "SECRET-SIG",
                "passphrase": "SECRET-PASSPHRASE", "redis_pass": "SECRET-REDIS-PASS",
                "author": "Ann", "signal": "SIGHUP", "design": "flat"
            }
        }),
    );
    write_json(
        &p.join("config/service.json"),
        &serde_json::json!({"channels": ["c1"], "http_server_uri": "https://svc:SECRET-SVC@api.example/v1/"}),
    );
    d
}

#[test]
fn pack_strips_url_user_info_and_every_credential_key_and_says_which() {
    let src = dir_with_hidden_credentials();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("s.mbx");
    let packed = Command::new(binary())
        .args(["bundle", "pack"])
        .arg(src.path())
        .args(["-o", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&packed.stdout);
    let stderr = String::from_utf8_lossy(&packed.stderr);
    assert!(packed.status.success(), "{stdout}{stderr}");

    // Not one secret value in the bundle, nor in what pack printed.
    let tar = untar(&std::fs::read(&file).unwrap());
    for secret in HIDDEN {
        assert!(
            !tar.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the bundle"
        );
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    // The URLs are kept without their user-info; look-alike keys are kept.
    let text = String::from_utf8_lossy(&tar);
    for kept in [
        "redis://127.0.0.1:6379/0",
        "redis://cache.internal:6380/1",
        "https://hooks.example/in?x=1",
        "https://plain.example/",
        "redis+unix:///run/redis.sock?db=2",
        "redis://cache.internal:6381/",
        "https://api.example/v1/",
        "\"author\": \"Ann\"",
        "\"signal\": \"SIGHUP\"",
        "\"design\": \"flat\"",
    ] {
        assert!(text.contains(kept), "{kept} was lost:\n{text}");
    }

    // pack names every removal by key path.
    let main_line = stdout
        .lines()
        .find(|l| l.starts_with("stripped: config/config.json: "))
        .unwrap_or_else(|| panic!("no stripped line for config.json: {stdout}"));
    for key in [
        "account_config",
        "db_config[0].redis_url (credentials in URL)",
        "db_config[1].redis_url (credentials in URL)",
        "hooks.urls[0] (credentials in URL)",
        "extras.passwd",
        "extras.dbPwd",
        "extras.PRIVATE_KEY",
        "extras.sshPrivateKey",
        "extras.auth",
        "extras.proxyAuth",
        "extras.Authorization",
        "extras.bearer",
        "extras.session_cookie",
        "extras.sessionCookie",
        "extras.url_sig",
        "extras.passphrase",
        "extras.redis_pass",
        "hooks.urls[2] (credentials in URL)",
        "hooks.urls[3] (credentials in URL)",
    ] {
        assert!(main_line.contains(key), "{key} not listed: {main_line}");
    }
    assert!(!main_line.contains("author,") && !main_line.contains("signal"));
    assert!(
        stdout.contains("stripped: config/service.json: http_server_uri (credentials in URL)"),
        "{stdout}"
    );
}
