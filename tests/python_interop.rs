//! The Python-SDK interop test.
//!
//! The tutorial's final `service.py` (tests/python/service.py, the tutorial's
//! own listing, unmodified) runs on the real Python SDK moobius 1.8.0 against
//! the sandbox, and a Python user-mode client (tests/python/user_client.py)
//! joins the channel with the SDK's own `join_channel`. Simulated members join
//! and leave through the control API. The same steps then run with the Rhai
//! port (`scripts/service.rhai` on `moobius-host run`) on a fresh channel, and
//! the settled character lists after every step must be identical. Views are
//! read from the sandbox: the SDK's user-mode parser of character updates is
//! broken (PROTOCOL.md section 9 item 3).
//!
//! Python: `MOOBIUS_TEST_PYTHON` if it can `import moobius`; otherwise a venv
//! made once (and reused) under the target dir with `pip install
//! moobius==1.8.0`; without any `python3` the test is skipped. The SDK reaches
//! WebSockets only over `wss://` and trusts only certifi's bundle (PROTOCOL.md
//! 1.1), so that bundle is rewritten for the run as its pristine copy plus the
//! sandbox's fresh CA, and restored afterwards. REST goes over plain `http://`.

mod common;

use common::{repo_root, sees, version, write_json, HostProcess, ServiceDir};
use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The SDK version PROTOCOL.md describes.
const SDK_REQUIREMENT: &str = "moobius==1.8.0";
const VENV_NAME: &str = "py-venv-moobius-1.8.0";
/// Written into the venv once it is complete.
const VENV_READY: &str = ".moobius-interop-ready";

/// The tutorial's final service, verbatim (see `service_py_is_the_tutorials_listing`).
const SERVICE_PY: &str = include_str!("python/service.py");
const USER_CLIENT_PY: &str = include_str!("python/user_client.py");

/// How long one step may take to settle.
const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_and_rhai_port_show_the_same_views() {
    let started = Instant::now();
    service_py_is_the_tutorials_listing();
    let Some(python) = python_with_sdk() else {
        return;
    };
    let bundle = certifi_bundle(&python);
    // The bundle is shared by every run using this Python: hold it for the test.
    let bundle_lock =
        LockFile::acquire(&sibling(&bundle, ".interop.lock"), Duration::from_secs(300));
    eprintln!(
        "python: {} (certifi bundle {})",
        python.display(),
        bundle.display()
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: true,
    })
    .await
    .expect("sandbox starts");
    let ready = sandbox.ready_info();
    let wss = ready.wss.clone().expect("a TLS sandbox has a wss URL");
    let ca_pem = std::fs::read_to_string(ready.ca_pem.as_ref().expect("a TLS sandbox has a CA"))
        .expect("the sandbox CA is readable");
    let trust = TrustedCa::install(&bundle, &ca_pem, bundle_lock);
    let env = PyEnv {
        python,
        http: sandbox.http_url(),
        wss,
    };

    let with_python = run_scenario(&sandbox, &env, Impl::Python).await;
    let with_rhai = run_scenario(&sandbox, &env, Impl::Rhai).await;

    println!("settled character lists (identical for service.py and service.rhai):");
    for (step, views) in &with_python {
        println!("  after {step}:");
        for (user, names) in views {
            println!("    {user:<7} sees {names:?}");
        }
    }
    assert_eq!(
        with_python, with_rhai,
        "the Python SDK service and the Rhai port must leave every member with the same character list"
    );
    sandbox.shutdown().await;
    drop(trust);
    eprintln!("python interop test took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// The scenario

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Python,
    Rhai,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Python => "service.py",
            Impl::Rhai => "service.rhai",
        }
    }
}

/// Where the Python processes find the sandbox.
struct PyEnv {
    python: PathBuf,
    http: String,
    wss: String,
}

/// Every user of the scenario: three simulated ones and the Python client.
const USERS: [&str; 4] = ["alice", "pyuser", "bob", "carol"];

/// (step, [(user, names they see)]) for every step and every user.
type Recorded = Vec<(String, Vec<(String, Vec<String>)>)>;

/// The processes of one run, checked while waiting so that a crash fails fast.
enum Service {
    Python(PyProcess, tempfile::TempDir),
    Rhai(HostProcess, ServiceDir),
}

struct Run {
    which: Impl,
    control: SandboxControl,
    channel: String,
    /// Members in join order (user names).
    present: Vec<String>,
    recorded: Recorded,
    service: Option<Service>,
    /// The Python user client and its directory (dropped in this order, so
    /// a failing test can still print the client's output).
    client: Option<(PyProcess, tempfile::TempDir)>,
}

async fn run_scenario(sandbox: &Sandbox, env: &PyEnv, which: Impl) -> Recorded {
    let control = sandbox.control();
    let channel = control.create_channel(&format!("interop {}", which.name()));
    for name in ["alice", "bob", "carol"] {
        control.create_user(name);
    }
    let pyuser = control.create_user("pyuser");
    eprintln!("--- {}: channel {channel}", which.name());
    let mut run = Run {
        which,
        control: control.clone(),
        channel: channel.clone(),
        present: Vec::new(),
        recorded: Vec::new(),
        service: None,
        client: None,
    };

    // alice is a member before the service starts: the service's check-in
    // (ground truth read at start) shows her view, which proves it is up.
    assert!(
        !control.act("alice", &channel, "join").await.unwrap(),
        "no service bound yet"
    );
    run.present.push("alice".into());
    run.service = Some(match which {
        Impl::Python => {
            let dir = python_service_dir(env, &channel);
            let process = PyProcess::spawn("service.py", &env.python, "service.py", dir.path());
            Service::Python(process, dir)
        }
        Impl::Rhai => {
            let dir = ServiceDir::new(sandbox, &[&channel]);
            Service::Rhai(dir.run_host(), dir)
        }
    });
    run.settle("the service starts (alice is already a member)")
        .await;

    // The Python user client joins through the SDK's own `join_channel`.
    let client_dir = user_client_dir(env, &channel, &pyuser.email, &pyuser.password);
    let client = PyProcess::spawn(
        "user_client.py",
        &env.python,
        "user_client.py",
        client_dir.path(),
    );
    run.client = Some((client, client_dir));
    run.present.push("pyuser".into());
    // Settling means the sandbox shows pyuser as a member and the service
    // sent pyuser their own view.
    run.settle("the Python user client joins").await;
    // The views also reached the real client over wss:// (the SDK logs every
    // received frame, then fails to parse a characters update: PROTOCOL 9.3).
    run.wait(
        "the Python user client receives a characters update",
        |run| {
            let (client, _) = run.client.as_ref().unwrap();
            received(&client.output(), "update", "characters")
        },
    )
    .await;
    if let Some(Service::Python(service, _)) = &run.service {
        // Its `join_channel` reached the service as `join` followed by `refresh`.
        let log = service.output();
        let join = find_action(&log, "join", &pyuser.user_id);
        let refresh = find_action(&log, "refresh", &pyuser.user_id);
        match (join, refresh) {
            (Some(j), Some(r)) => assert!(j < r, "join must come before refresh"),
            _ => panic!("service.py did not log a join and a refresh from pyuser:\n{log}"),
        }
    }

    for (who, action) in [("bob", "join"), ("carol", "join"), ("bob", "leave")] {
        let delivered = control.act(who, &channel, action).await.unwrap();
        assert!(
            delivered,
            "{who}'s {action} must reach the connected service"
        );
        match action {
            "join" => run.present.push(who.into()),
            _ => run.present.retain(|p| p != who),
        }
        run.settle(&format!("{who} {action}s")).await;
    }

    // A refresh re-sends alice's view (same list, new version).
    let before = version(&control, "alice", &channel);
    assert!(control.act("alice", &channel, "refresh").await.unwrap());
    run.wait("alice's view is re-sent after her refresh", |run| {
        version(&run.control, "alice", &run.channel) > before
    })
    .await;
    run.settle("alice refreshes").await;

    let recorded = std::mem::take(&mut run.recorded);
    run.stop();
    recorded
}

impl Run {
    /// What `member` should see: themself, Meow, then the others in join order.
    fn expected(&self, member: &str) -> Vec<String> {
        let mut names = vec![member.to_string(), "Meow".to_string()];
        names.extend(self.present.iter().filter(|p| *p != member).cloned());
        names
    }

    fn settled(&self) -> bool {
        let members: Vec<String> = self
            .control
            .members(&self.channel)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        members == self.present
            && self
                .present
                .iter()
                .all(|m| sees(&self.control, m, &self.channel) == self.expected(m))
    }

    /// Waits until the ground truth and every present member's view match the
    /// tutorial, then records the views.
    async fn settle(&mut self, step: &str) {
        let start = Instant::now();
        loop {
            if self.settled() {
                break;
            }
            self.check_alive(step);
            if start.elapsed() > SETTLE {
                panic!(
                    "{}: views did not settle after {step:?}:\n{}",
                    self.which.name(),
                    self.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Everyone is recorded, members or not: what a departed member or a
        // user who never joined is left with is compared too, unasserted.
        let views = USERS
            .iter()
            .map(|u| (u.to_string(), sees(&self.control, u, &self.channel)))
            .collect();
        eprintln!("{}: settled after {step}", self.which.name());
        self.recorded.push((step.to_string(), views));
    }

    /// Polls `check` with a deadline, failing fast if a process died.
    async fn wait(&mut self, what: &str, check: impl Fn(&Run) -> bool) {
        let start = Instant::now();
        while !check(self) {
            self.check_alive(what);
            if start.elapsed() > SETTLE {
                panic!(
                    "{}: timed out waiting for {what}:\n{}",
                    self.which.name(),
                    self.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn describe(&self) -> String {
        let members = self.control.members(&self.channel).unwrap();
        let mut out = format!(
            "  ground truth: {:?}\n",
            members.iter().map(|m| &m.name).collect::<Vec<_>>()
        );
        for m in USERS {
            out += &format!(
                "  {m:<7} sees {:?} (v{}), expected {}\n",
                sees(&self.control, m, &self.channel),
                version(&self.control, m, &self.channel),
                if self.present.iter().any(|p| p == m) {
                    format!("{:?}", self.expected(m))
                } else {
                    "nothing (not a member)".to_string()
                }
            );
        }
        out
    }

    fn check_alive(&mut self, what: &str) {
        let which = self.which.name();
        if let Some((client, _)) = &mut self.client {
            client.assert_running(&format!("{which}: while waiting for {what}"));
        }
        match &mut self.service {
            Some(Service::Python(process, _)) => {
                process.assert_running(&format!("while waiting for {what}"))
            }
            Some(Service::Rhai(host, _)) => {
                if let Ok(Some(status)) = host.child.try_wait() {
                    panic!("moobius-host exited ({status}) while waiting for {what}");
                }
            }
            None => {}
        }
    }

    fn stop(&mut self) {
        if let Some((mut client, dir)) = self.client.take() {
            client.kill();
            drop(dir);
        }
        match self.service.take() {
            Some(Service::Python(mut process, dir)) => {
                process.kill();
                drop(dir);
            }
            Some(Service::Rhai(mut host, dir)) => {
                host.kill();
                drop(dir);
            }
            None => {}
        }
    }
}

/// The line number in the SDK's log of a received action of `subtype` from
/// `sender` (the SDK logs every received frame).
fn find_action(log: &str, subtype: &str, sender: &str) -> Option<usize> {
    let wanted = format!("\"subtype\":\"{subtype}\"");
    log.lines().position(|line| {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        line.contains("ws_client:receive") && compact.contains(&wanted) && compact.contains(sender)
    })
}

/// Whether the SDK's log shows a received frame of `kind` and `subtype`.
fn received(log: &str, kind: &str, subtype: &str) -> bool {
    let (kind, subtype) = (
        format!("\"type\":\"{kind}\""),
        format!("\"subtype\":\"{subtype}\""),
    );
    log.lines().any(|line| {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        line.contains("ws_client:receive") && compact.contains(&kind) && compact.contains(&subtype)
    })
}

// ---------------------------------------------------------------------------
// Service and client directories

fn python_service_dir(env: &PyEnv, channel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("resources")).unwrap();
    std::fs::create_dir_all(p.join("config")).unwrap();
    std::fs::write(p.join("service.py"), SERVICE_PY).unwrap();
    std::fs::copy(
        repo_root().join("resources/avatar.png"),
        p.join("resources/avatar.png"),
    )
    .unwrap();
    let email = format!("py-svc-{}@test.local", uuid::Uuid::new_v4().simple());
    write_json(
        &p.join("config/config.json"),
        &serde_json::json!({
            "account_config": {"email": email, "password": "pw-for-tests"},
            "service_config": {
                "http_server_uri": env.http,
                "ws_server_uri": env.wss,
                "service_id": "",
                "channels": [channel],
                "others": "include"
            },
            "log_config": log_config(p),
        }),
    );
    dir
}

fn user_client_dir(env: &PyEnv, channel: &str, email: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("config")).unwrap();
    std::fs::write(p.join("user_client.py"), USER_CLIENT_PY).unwrap();
    write_json(
        &p.join("config/config.json"),
        &serde_json::json!({
            "account_config": {"email": email, "password": password},
            "service_config": {
                "http_server_uri": env.http,
                "ws_server_uri": env.wss,
                "channels": [channel],
                "service_mode": false
            },
            "log_config": log_config(p),
        }),
    );
    dir
}

fn log_config(dir: &Path) -> serde_json::Value {
    serde_json::json!({
        "log_level": "DEBUG",
        "terminal_log_level": "INFO",
        "error_log_level": "WARNING",
        "log_retention": "1 day",
        "log_file": dir.join("logs/sdk.log").display().to_string(),
        "error_log_file": dir.join("logs/sdk-error.log").display().to_string(),
    })
}

// ---------------------------------------------------------------------------
// Python processes

/// A Python script as a child process, killed when dropped. Its stdout and
/// stderr go to a file printed if the test fails.
struct PyProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// Variables that would route the SDK's loopback traffic elsewhere.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

impl PyProcess {
    fn spawn(name: &'static str, python: &Path, script: &str, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.out"));
        let file = File::create(&log).unwrap();
        let mut command = Command::new(python);
        command
            .arg(script)
            .current_dir(dir)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for var in PROXY_VARS {
            command.env_remove(var);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        PyProcess { name, child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self, context: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}) {context}", self.name);
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- {} output ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.output()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Finding or making a Python with the SDK

/// A Python that can import the SDK, or `None` (after printing why) when the
/// test must be skipped.
fn python_with_sdk() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("MOOBIUS_TEST_PYTHON").filter(|p| !p.is_empty()) {
        let python = PathBuf::from(python);
        match Command::new(&python)
            .args(["-c", "import moobius"])
            .output()
        {
            Ok(out) if out.status.success() => return Some(python),
            Ok(out) => eprintln!(
                "MOOBIUS_TEST_PYTHON={} cannot import moobius ({}); using a venv instead",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(err) => eprintln!(
                "MOOBIUS_TEST_PYTHON={} does not run ({err}); using a venv instead",
                python.display()
            ),
        }
    }
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Some(ensure_venv()),
        Ok(out) => panic!("python3 --version failed: {}", describe_output(&out)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: python3 not found (the Python SDK interop test needs it)");
            None
        }
        Err(err) => panic!("cannot run python3: {err}"),
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => repo_root().join(dir), // `join` keeps an absolute path as it is
        None => repo_root().join("target"),
    }
}

/// The venv under the target dir, created (once, under a lock) if needed.
fn ensure_venv() -> PathBuf {
    let target = target_dir();
    let venv = target.join(VENV_NAME);
    let python = venv.join("bin").join("python");
    let ready = venv.join(VENV_READY);
    if ready.exists() {
        return python;
    }
    std::fs::create_dir_all(&target).unwrap();
    let _lock = LockFile::acquire(
        &target.join(format!("{VENV_NAME}.lock")),
        Duration::from_secs(900),
    );
    if ready.exists() {
        return python; // made by another test process while we waited
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).expect("remove a half-made venv");
    }
    eprintln!("creating {} ({SDK_REQUIREMENT})", venv.display());
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 -m venv runs");
    assert!(
        out.status.success(),
        "python3 -m venv failed: {}",
        describe_output(&out)
    );
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            SDK_REQUIREMENT,
        ])
        .output()
        .expect("pip runs");
    assert!(
        out.status.success(),
        "pip install {SDK_REQUIREMENT} failed: {}",
        describe_output(&out)
    );
    let out = Command::new(&python)
        .args(["-c", "import moobius, certifi"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the new venv cannot import moobius: {}",
        describe_output(&out)
    );
    std::fs::write(&ready, SDK_REQUIREMENT).unwrap();
    python
}

fn describe_output(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The certifi bundle the SDK's TLS context is built from.
fn certifi_bundle(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args(["-c", "import certifi; print(certifi.where())"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "cannot locate certifi: {}",
        describe_output(&out)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `contents` to `path` through a temp file and a rename.
fn write_atomically(path: &Path, contents: &[u8]) {
    let tmp = sibling(path, &format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Precedes the sandbox CA appended to certifi's bundle.
const CA_MARKER: &str =
    "\n# moobius-host sandbox CA, added by tests/python_interop.rs for one run\n";

/// certifi's bundle = its pristine copy + the sandbox CA, for this test only.
struct TrustedCa {
    bundle: PathBuf,
    pristine: PathBuf,
    _lock: LockFile,
}

impl TrustedCa {
    fn install(bundle: &Path, ca_pem: &str, lock: LockFile) -> Self {
        let pristine = sibling(bundle, ".orig");
        let current = std::fs::read(bundle).expect("certifi bundle is readable");
        // Without our marker the bundle is pristine (possibly a newer certifi):
        // keep a copy. With it, a previous run was killed before restoring.
        if !String::from_utf8_lossy(&current).contains(CA_MARKER) || !pristine.exists() {
            write_atomically(&pristine, &current);
        }
        let mut text = std::fs::read_to_string(&pristine).unwrap();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text += CA_MARKER;
        text += ca_pem;
        write_atomically(bundle, text.as_bytes());
        TrustedCa {
            bundle: bundle.to_path_buf(),
            pristine,
            _lock: lock,
        }
    }
}

impl Drop for TrustedCa {
    fn drop(&mut self) {
        if let Ok(pristine) = std::fs::read(&self.pristine) {
            write_atomically(&self.bundle, &pristine);
        }
    }
}

/// An exclusive lock: a file created with `create_new`, holding our pid. A
/// lock whose holder is gone is taken over.
struct LockFile(PathBuf);

impl LockFile {
    fn acquire(path: &Path, patience: Duration) -> LockFile {
        let start = Instant::now();
        let mut told = false;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).unwrap();
                    return LockFile(path.to_path_buf());
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    if lock_holder_is_gone(path) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if !told {
                        eprintln!(
                            "waiting for {} (held by another test process)",
                            path.display()
                        );
                        told = true;
                    }
                    assert!(
                        start.elapsed() < patience,
                        "gave up waiting for {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => panic!("cannot create {}: {err}", path.display()),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lock_holder_is_gone(path: &Path) -> bool {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default();
    let pid = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    match pid {
        // Linux: the holder is gone when its /proc entry is.
        Some(pid) if Path::new("/proc/self").exists() => {
            !Path::new(&format!("/proc/{pid}")).exists()
        }
        Some(_) => age > Duration::from_secs(30 * 60),
        // Not written yet (just created), or garbage.
        None => age > Duration::from_secs(10),
    }
}

// ---------------------------------------------------------------------------
// The listing

/// tests/python/service.py must be the tutorial's final listing. The seed text
/// lost its indentation and blank lines when it was flattened, so lines are
/// compared with whitespace normalised. CI's clone may not have the seed.
fn service_py_is_the_tutorials_listing() {
    let seed = repo_root().join("../shared/seeds/members-and-characters.txt");
    let Ok(text) = std::fs::read_to_string(&seed) else {
        eprintln!(
            "note: {} not found; service.py not re-checked against it",
            seed.display()
        );
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.trim() == "# service.py")
        .expect("the tutorial has a service.py listing");
    let len = lines[start..]
        .iter()
        .position(|l| l.contains("MoobiusWand().run("))
        .expect("the listing ends with MoobiusWand().run");
    let tutorial = normalise(&lines[start..=start + len]);
    assert!(
        tutorial
            .iter()
            .any(|l| l.starts_with("async def send_member_view(")),
        "the last listing is the one with send_member_view"
    );
    let ours = normalise(&SERVICE_PY.lines().collect::<Vec<_>>());
    assert_eq!(
        ours, tutorial,
        "tests/python/service.py differs from the tutorial's final listing"
    );
}

fn normalise(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}
