//! The Python-SDK harness shared by every test that runs the real, unmodified
//! SDK (moobius 1.8.0) against the sandbox: tests/python_interop.rs and
//! tests/sandbox_python_sdk.rs. It lives in one place so that those tests find
//! Python the same way, skip for the same reason, and take the same lock on
//! the one file they all rewrite (certifi's bundle).
//!
//! Python: `MOOBIUS_TEST_PYTHON` if it can `import moobius` (CI sets it);
//! otherwise a venv made once (and reused) under the target dir with `pip
//! install moobius==1.8.0`; without any `python3` the caller skips (`None`).
//!
//! TLS: the SDK reaches WebSockets only over `wss://` and trusts only
//! certifi's bundle (docs/PROTOCOL.md 1.1), so for one test that bundle is its
//! pristine copy (`<bundle>.orig`) plus the sandbox's fresh CA, under a lock
//! file next to it; it is restored when the test ends, and repaired at the
//! next start if a run was killed. REST goes over plain `http://`.

use super::loopback::start_on_loopback;
use super::repo_root;
use moobius_host::sandbox::Sandbox;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The SDK version docs/PROTOCOL.md describes.
const SDK_REQUIREMENT: &str = "moobius==1.8.0";
/// Also made by `.ci/run`, which then exports `MOOBIUS_TEST_PYTHON`.
const VENV_NAME: &str = "py-venv-moobius-1.8.0";
/// Written into the venv once it is complete.
const VENV_READY: &str = ".moobius-interop-ready";
/// Next to certifi's bundle; the name predates this module and is kept, so
/// that older checkouts sharing the venv still exclude each other.
const BUNDLE_LOCK_SUFFIX: &str = ".interop.lock";
/// How long a test waits for another one to finish with the bundle.
const BUNDLE_PATIENCE: Duration = Duration::from_secs(300);
/// Precedes the sandbox CA appended to certifi's bundle (detected by prefix,
/// so bundles left by older versions of this harness are repaired too).
const CA_MARKER_PREFIX: &str = "# moobius-host sandbox CA";
const CA_MARKER: &str = "# moobius-host sandbox CA, added by tests/common/python.rs for one test\n";

/// A TLS sandbox whose CA the SDK trusts, for one test. Hold it for the whole
/// test; `shutdown` at the end (dropping it restores the bundle too).
pub struct SdkSandbox {
    pub python: PathBuf,
    pub sandbox: Sandbox,
    /// `http://127.0.0.1:PORT/`
    pub http: String,
    /// `wss://127.0.0.1:PORT/ws`
    pub wss: String,
    trust: TrustedCa,
}

impl SdkSandbox {
    /// `None` (after printing why) when the test must be skipped. Waits
    /// while another test process uses certifi's bundle.
    pub async fn start() -> Option<SdkSandbox> {
        let python = python_with_sdk()?;
        let bundle = certifi_bundle(&python);
        let lock = LockFile::acquire(&sibling(&bundle, BUNDLE_LOCK_SUFFIX), BUNDLE_PATIENCE);
        eprintln!(
            "python: {} (certifi {})",
            python.display(),
            bundle.display()
        );
        let sandbox = start_on_loopback(true).await;
        let ready = sandbox.ready_info();
        let wss = ready.wss.expect("a TLS sandbox has a wss URL");
        let ca = ready.ca_pem.expect("a TLS sandbox has a CA");
        let ca_pem = std::fs::read_to_string(ca).expect("the sandbox CA is readable");
        let trust = TrustedCa::install(&bundle, &ca_pem, lock);
        Some(SdkSandbox {
            python,
            http: sandbox.http_url(),
            sandbox,
            wss,
            trust,
        })
    }

    /// Stops the sandbox, then restores the bundle and releases its lock.
    /// Kill the Python processes first.
    pub async fn shutdown(self) {
        let SdkSandbox { sandbox, trust, .. } = self;
        sandbox.shutdown().await;
        drop(trust);
    }

    /// A temp dir holding `script` as `name` and a `config/config.json` with
    /// `account` and `service` inline (this sandbox's URLs added to
    /// `service`), logging INFO to the terminal and DEBUG to `logs/`.
    pub fn program_dir(
        &self,
        name: &str,
        script: &str,
        account: Value,
        mut service: Value,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("config")).unwrap();
        std::fs::write(p.join(name), script).unwrap();
        service["http_server_uri"] = self.http.clone().into();
        service["ws_server_uri"] = self.wss.clone().into();
        let config = json!({
            "account_config": account,
            "service_config": service,
            "log_config": {
                "log_level": "DEBUG",
                "terminal_log_level": "INFO",
                "error_log_level": "WARNING",
                "log_retention": "1 day",
                "log_file": p.join("logs/sdk.log"),
                "error_log_file": p.join("logs/sdk-error.log"),
            },
        });
        super::write_json(&p.join("config/config.json"), &config);
        dir
    }

    /// Runs `name` in `dir` (from `program_dir`) with this Python.
    pub fn spawn(&self, name: &'static str, dir: tempfile::TempDir) -> PyProcess {
        PyProcess::spawn(name, &self.python, dir)
    }

    /// `program_dir` and `spawn` in one.
    pub fn run(
        &self,
        name: &'static str,
        script: &str,
        account: Value,
        service: Value,
    ) -> PyProcess {
        self.spawn(name, self.program_dir(name, script, account, service))
    }
}

// ---------------------------------------------------------------------------
// Python processes

/// A Python script as a child process in its own temp dir, killed when
/// dropped. Its stdout and stderr go to a file there, printed if the test
/// fails (while dropping in a panic); the dir goes after that.
pub struct PyProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PyProcess {
    fn spawn(name: &'static str, python: &Path, dir: tempfile::TempDir) -> Self {
        let log = dir.path().join(format!("{name}.out"));
        let file = File::create(&log).unwrap();
        let mut command = Command::new(python);
        command
            .arg(name)
            .current_dir(dir.path())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        // They would route the SDK's loopback traffic elsewhere.
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            command.env_remove(var).env_remove(var.to_lowercase());
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        PyProcess {
            name,
            child,
            log,
            _dir: dir,
        }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics if it has exited (a crash fails the test at once).
    pub fn assert_running(&mut self, context: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}) {context}", self.name);
        }
    }

    pub fn kill(&mut self) {
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
/// test must be skipped: only when there is no `python3` at all.
pub fn python_with_sdk() -> Option<PathBuf> {
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
            super::skip("python3 not found (the Python SDK tests need it)");
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
    let lock = target.join(format!("{VENV_NAME}.lock"));
    let _lock = LockFile::acquire(&lock, Duration::from_secs(900));
    if ready.exists() {
        return python; // made by another test while we waited
    }
    let has_sdk = format!(
        "import certifi, importlib.metadata as m; \
         assert 'moobius==' + m.version('moobius') == '{SDK_REQUIREMENT}'"
    );
    if venv.exists() {
        // Made without our marker (by `.ci/run`), or half made.
        let out = Command::new(&python).args(["-c", &has_sdk]).output();
        if out.is_ok_and(|out| out.status.success()) {
            std::fs::write(&ready, SDK_REQUIREMENT).unwrap();
            return python;
        }
        std::fs::remove_dir_all(&venv).expect("remove a half-made venv");
    }
    eprintln!("creating {} ({SDK_REQUIREMENT})", venv.display());
    let run = |command: &mut Command, what: &str| {
        let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(out.status.success(), "{what}: {}", describe_output(&out));
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(["--no-input", SDK_REQUIREMENT]),
        &format!("pip install {SDK_REQUIREMENT}"),
    );
    run(
        Command::new(&python).args(["-c", &has_sdk]),
        "the new venv has the SDK",
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

// ---------------------------------------------------------------------------
// certifi's bundle

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

/// Writes `contents` to `path` through a temp file and a rename, so that a
/// Python process reading it never sees half a file.
fn write_atomically(path: &Path, contents: &[u8]) {
    let tmp = sibling(path, &format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// certifi's bundle = its pristine copy + the sandbox CA, while held.
struct TrustedCa {
    bundle: PathBuf,
    pristine: PathBuf,
    /// Released after the bundle is restored (fields drop after `drop`).
    _lock: LockFile,
}

impl TrustedCa {
    fn install(bundle: &Path, ca_pem: &str, lock: LockFile) -> Self {
        let pristine = sibling(bundle, ".orig");
        let current = String::from_utf8(std::fs::read(bundle).expect("certifi bundle is readable"))
            .expect("certifi bundle is text");
        // Without a marker the bundle is pristine (possibly a newer certifi):
        // keep a copy. With one, a run was killed before restoring it.
        match current.find(CA_MARKER_PREFIX) {
            None => write_atomically(&pristine, current.as_bytes()),
            Some(at) if !pristine.exists() => {
                let kept = format!("{}\n", current[..at].trim_end());
                write_atomically(&pristine, kept.as_bytes())
            }
            Some(_) => eprintln!("repairing {} (a run was killed)", bundle.display()),
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

/// An exclusive lock between test processes and threads: a file created with
/// `create_new`, holding our pid. A lock whose holder is gone is taken over.
struct LockFile(PathBuf);

impl LockFile {
    /// Polls until the lock is free; panics after `patience`.
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
                        eprintln!("waiting for {} (held by another test)", path.display());
                        told = true;
                    }
                    assert!(
                        start.elapsed() < patience,
                        "gave up waiting for {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
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
