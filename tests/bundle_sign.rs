//! Signed bundles through the real binary: `bundle keygen` makes a private
//! secret key and a public one; `pack --sign` and `verify --trust` agree,
//! another key or tampering is refused by name; a secret key is never
//! packed; and a host whose config trusts a key refuses an unsigned bundle
//! at start and as a live replacement, while a signed one runs and swaps.

mod common;
use common::bundle::*;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SELF_FIRST: &str = "let payload = this.members[channel_id].view_for(member_id, [this.meow]);";
const SELF_LAST: &str =
    "let payload = this.members[channel_id].view_for(member_id, [this.meow]).to_array(); let me = payload.shift(); payload.push(me);";

/// Runs the binary (TMPDIR in `tmp`): exit code, stdout, stderr.
fn run(args: &[&str], tmp: &Path) -> (Option<i32>, String, String) {
    let out = cli(args, tmp);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A key pair made by `bundle keygen` in `dir`: (secret path, public path, key id).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let base = dir.join(name);
    let (code, out, err) = run(&["bundle", "keygen", base.to_str().unwrap()], dir);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = out
        .split("key id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("keygen names the key id")
        .to_string();
    assert_eq!(id.len(), 16, "{out}");
    (base.with_extension("key"), base.with_extension("pub"), id)
}

/// The key line of a `.pub` or `.key` file.
fn key_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string()
}

/// A minimal service directory that packs (no platform needed).
fn service(dir: &Path) -> PathBuf {
    let svc = dir.join("svc");
    std::fs::create_dir_all(svc.join("scripts")).unwrap();
    std::fs::create_dir_all(svc.join("resources")).unwrap();
    std::fs::write(svc.join("scripts/service.rhai"), tutorial()).unwrap();
    svc
}

fn pack_signed(svc: &Path, out: &Path, key: Option<&Path>, tmp: &Path) -> String {
    let mut args = vec![
        "bundle",
        "pack",
        svc.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    if let Some(k) = key {
        args.extend(["--sign", k.to_str().unwrap()]);
    }
    let (code, stdout, stderr) = run(&args, tmp);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    stdout
}

#[cfg(unix)]
#[test]
fn keygen_writes_a_private_secret_key_and_never_overwrites_one() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let base = d.path().join("release");
    let (code, out, err) = run(&["bundle", "keygen", base.to_str().unwrap()], d.path());
    assert_eq!(code, Some(0), "{out}{err}");
    let (secret, public) = (base.with_extension("key"), base.with_extension("pub"));
    assert_eq!(mode(&secret), 0o600, "the secret key is private");
    assert_eq!(mode(&public), 0o644);
    let secret_line = key_line(&secret);
    assert!(secret_line.starts_with("ed25519-secret:"), "{secret_line}");
    assert!(key_line(&public).starts_with("ed25519:"));
    // The public key is printed for trusted_keys; the secret never is.
    assert!(out.contains(&key_line(&public)), "{out}");
    let value = &secret_line["ed25519-secret:".len()..];
    assert!(!out.contains(value) && !err.contains(value));

    let before = std::fs::read(&secret).unwrap();
    let (code, _, err) = run(&["bundle", "keygen", base.to_str().unwrap()], d.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&secret).unwrap(), before, "not overwritten");

    let args = ["bundle", "keygen", "--force", secret.to_str().unwrap()];
    let (code, out, err) = run(&args, d.path());
    assert_eq!(code, Some(0), "{out}{err}");
    assert_ne!(std::fs::read(&secret).unwrap(), before, "replaced");
    assert_eq!(mode(&secret), 0o600, "still private");

    for (args, needle) in [
        (&["bundle", "keygen", "--help"][..], "0600"),
        (&["bundle", "pack", "--help"], "--sign <KEY>"),
        (&["bundle", "verify", "--help"], "--trust <PUBKEY>"),
        (&["bundle", "inspect", "--help"], "signer"),
        (&["run", "--help"], "trusted_keys"),
    ] {
        let (code, out, _) = run(args, d.path());
        assert!(code == Some(0) && out.contains(needle), "{args:?}: {out}");
    }
}

#[test]
fn a_signed_bundle_verifies_against_its_key_and_is_refused_by_another() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path();
    let (secret, public, id) = keygen(tmp, "release");
    let (other_secret, other_public, other_id) = keygen(tmp, "other");
    let svc = service(tmp);
    let file = tmp.join("s.mbx");
    let out = pack_signed(&svc, &file, Some(&secret), tmp);
    assert!(out.contains(&format!("signed by key {id}")), "{out}");
    let f = file.to_str().unwrap();

    let (code, out, err) = run(
        &["bundle", "verify", f, "--trust", public.to_str().unwrap()],
        tmp,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("signed by trusted key {id}")),
        "{out}"
    );
    // The key line works as well as the file, and several keys may be trusted.
    let line = key_line(&public);
    let args = [
        "bundle",
        "verify",
        f,
        "--trust",
        other_public.to_str().unwrap(),
        "--trust",
        &line,
    ];
    assert_eq!(run(&args, tmp).0, Some(0));
    // Without --trust, the signer is still named.
    let (code, out, _) = run(&["bundle", "verify", f], tmp);
    assert_eq!(code, Some(0));
    assert!(out.contains(&format!("signed by key {id}")), "{out}");

    let args = [
        "bundle",
        "verify",
        f,
        "--trust",
        other_public.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args, tmp);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("signed by key {id}, which is not trusted"))
            && err.contains(&format!("trusted: {other_id}")),
        "{err}"
    );

    // inspect names the signer, in both forms.
    let (_, out, _) = run(&["bundle", "inspect", f], tmp);
    assert!(
        out.contains(&format!("signed by:        key {id}")),
        "{out}"
    );
    let (_, out, _) = run(&["bundle", "inspect", f, "--json"], tmp);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["signature"],
        json!({"key_id": id, "matches_manifest": true})
    );

    // An unsigned bundle is refused where a key is trusted, and fine otherwise.
    let unsigned = tmp.join("u.mbx");
    pack_signed(&svc, &unsigned, None, tmp);
    let u = unsigned.to_str().unwrap();
    let (code, _, err) = run(
        &["bundle", "verify", u, "--trust", public.to_str().unwrap()],
        tmp,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not signed") && err.contains(&id), "{err}");
    let (code, out, _) = run(&["bundle", "verify", u], tmp);
    assert_eq!(code, Some(0));
    assert!(out.contains("unsigned"), "{out}");
    let (_, out, _) = run(&["bundle", "inspect", u], tmp);
    assert!(out.contains("signed by:        no (unsigned)"), "{out}");

    // A secret key given to --trust is refused without being echoed.
    let args = [
        "bundle",
        "verify",
        f,
        "--trust",
        other_secret.to_str().unwrap(),
    ];
    let (code, out, err) = run(&args, tmp);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("SECRET"), "{err}");
    let value = key_line(&other_secret)["ed25519-secret:".len()..].to_string();
    assert!(!err.contains(&value) && !out.contains(&value));
}

#[test]
fn tampering_with_a_signed_bundle_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path();
    let (secret, public, id) = keygen(tmp, "release");
    let file = tmp.join("s.mbx");
    pack_signed(&service(tmp), &file, Some(&secret), tmp);
    let signed = std::fs::read(&file).unwrap();
    let trust = ["--trust", public.to_str().unwrap()];

    // A file changed, the manifest (and so the signature) untouched: its hash.
    let bad = tmp.join("file.mbx");
    std::fs::write(&bad, tampered(&signed)).unwrap();
    let (code, _, err) = run(
        &[&["bundle", "verify", bad.to_str().unwrap()][..], &trust].concat(),
        tmp,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("SHA-256") && err.contains("scripts/service.rhai"),
        "{err}"
    );

    // The file and its manifest entry changed together: the signature, with
    // or without trusted keys, since a signature present is always checked.
    let script = tutorial().replace(SELF_FIRST, SELF_LAST);
    std::fs::write(&bad, with_script(&signed, &script)).unwrap();
    let b = bad.to_str().unwrap();
    for args in [
        &[&["bundle", "verify", b][..], &trust].concat(),
        &vec!["bundle", "verify", b],
    ] {
        let (code, _, err) = run(args, tmp);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "the signature by key {id} does not match manifest.json"
            )),
            "{err}"
        );
    }
    let (code, out, _) = run(&["bundle", "inspect", b], tmp);
    assert_eq!(code, Some(0));
    assert!(out.contains("does NOT match"), "{out}");
    assert!(unpack_dirs(tmp)
        .iter()
        .all(|n| !n.starts_with(".moobius-bundle-")));
}

#[test]
fn pack_refuses_a_secret_key_in_the_service_directory() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path();
    let (secret, _, _) = keygen(tmp, "release");
    let svc = service(tmp);
    // Whatever its name: the content says what it is.
    std::fs::copy(&secret, svc.join("resources/notes.txt")).unwrap();
    let out = tmp.join("s.mbx");
    let args = [
        "bundle",
        "pack",
        svc.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let (code, stdout, err) = run(&args, tmp);
    assert_eq!(code, Some(2), "{stdout}{err}");
    assert!(
        err.contains("resources/notes.txt holds a bundle signing secret key"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let value = key_line(&secret)["ed25519-secret:".len()..].to_string();
    assert!(!err.contains(&value) && !stdout.contains(&value));
}

/// A deployment directory whose config trusts `public` and points at a port
/// nothing listens on: exit 2 means refused before any connection.
fn deployment(dir: &Path, trusted: &[String]) -> PathBuf {
    let dep = dir.join("deploy");
    std::fs::create_dir_all(dep.join("config")).unwrap();
    write_json(
        &dep.join("config/config.json"),
        &json!({
            "account_config": {"email": "a@test.local", "password": "pw"},
            "service_config": {
                "http_server_uri": "http://127.0.0.1:9/",
                "ws_server_uri": "ws://127.0.0.1:9/",
                "channels": [],
                "trusted_keys": trusted,
            },
        }),
    );
    dep
}

#[test]
fn run_with_trusted_keys_refuses_an_unsigned_bundle_at_start() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path();
    let (secret, public, id) = keygen(tmp, "release");
    let (other_secret, _, other_id) = keygen(tmp, "other");
    let svc = service(tmp);
    let dep = deployment(tmp, &[key_line(&public)]);
    let dep_s = dep.to_str().unwrap();
    let unpacked = tmp.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();

    let unsigned = tmp.join("u.mbx");
    pack_signed(&svc, &unsigned, None, tmp);
    let args = [
        "run",
        "--dir",
        dep_s,
        "--bundle",
        unsigned.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args, &unpacked);
    assert_eq!(code, Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        line.contains("u.mbx: refused: the bundle is not signed") && line.contains(&id),
        "{err}"
    );

    let by_other = tmp.join("o.mbx");
    pack_signed(&svc, &by_other, Some(&other_secret), tmp);
    let args = [
        "run",
        "--dir",
        dep_s,
        "--bundle",
        by_other.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args, &unpacked);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "signed by key {other_id}, which is not trusted (trusted: {id})"
        )),
        "{err}"
    );
    assert!(unpack_dirs(&unpacked).is_empty(), "nothing unpacked");

    // A secret key in trusted_keys is a config error that does not echo it.
    let signed = tmp.join("s.mbx");
    pack_signed(&svc, &signed, Some(&secret), tmp);
    let dep = deployment(tmp, &[key_line(&secret)]);
    let args = [
        "run",
        "--dir",
        dep.to_str().unwrap(),
        "--bundle",
        signed.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args, &unpacked);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("trusted_keys[0]") && err.contains("SECRET"),
        "{err}"
    );
    let value = key_line(&secret)["ed25519-secret:".len()..].to_string();
    assert!(!err.contains(&value), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusting_host_runs_a_signed_bundle_and_refuses_an_unsigned_replacement() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, id) = keygen(keys.path(), "release");
    svc.set_service_key("trusted_keys", json!([key_line(&public)]));
    let tmp = tempfile::tempdir().unwrap();
    let file = svc.path().join("service.mbx");
    pack_signed(svc.path(), &file, Some(&secret), tmp.path());
    let dir = svc.path().display().to_string();
    let args = [
        "run",
        "--dir",
        &dir,
        "--bundle",
        file.to_str().unwrap(),
        "--admin",
        "127.0.0.1:0",
    ];
    let host = HostProcess::spawn_with_env(&args, tmp.path(), None, &[("TMPDIR", tmp.path())]);
    wait_sees(&c, "alice", &ch, &["alice", "Meow", "bob"]).await;
    host.wait_logged("the signer is logged", &["serving the bundle", &id])
        .await;
    let (url, token) = admin_endpoint(svc.path()).await;

    // An unsigned v2 renamed over the file: refused, v1 keeps serving.
    let v2 = ServiceDir::with_script(&sandbox, &[&ch], &tutorial().replace(SELF_FIRST, SELF_LAST));
    let staged = svc.path().join("next.mbx");
    pack_signed(v2.path(), &staged, None, tmp.path());
    std::fs::rename(&staged, &file).unwrap();
    host.wait_logged(
        "the refusal is logged",
        &["ERROR", "new bundle refused", "not signed", &id],
    )
    .await;
    refresh_answered(&c, "bob", &ch, "the running version answers").await;
    assert_eq!(sees(&c, "bob", &ch), ["bob", "Meow", "alice"]);
    let status = |url: String, token: String| async move {
        let v: Value = reqwest::Client::new()
            .get(format!("{url}/status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["script"]["reload_error"].clone()
    };
    let shown = status(url.clone(), token.clone()).await;
    assert!(
        shown.as_str().is_some_and(|e| e.contains("not signed")),
        "{shown}"
    );

    // The same v2, signed: swapped live, and the error is gone.
    pack_signed(v2.path(), &staged, Some(&secret), tmp.path());
    std::fs::rename(&staged, &file).unwrap();
    refresh_until(&c, "alice", &ch, &["Meow", "bob", "alice"]).await;
    host.wait_logged("the swap is logged", &["bundle swapped", &id])
        .await;
    assert_eq!(status(url, token).await, Value::Null);
    sandbox.shutdown().await;
}
