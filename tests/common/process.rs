//! The real `moobius-host` binary as a child process of a test.

use super::{binary, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The real binary as a child process; killed when dropped. Its stderr goes
/// to a file that is printed if the test fails (while dropping in a panic).
pub struct HostProcess {
    pub child: Child,
    log: PathBuf,
}

impl HostProcess {
    pub fn spawn(args: &[&str], log_dir: &Path) -> Self {
        Self::spawn_in(args, log_dir, None)
    }

    /// Runs in `cwd` (when given), with stdout and stderr both in the log.
    pub fn spawn_in(args: &[&str], log_dir: &Path, cwd: Option<&Path>) -> Self {
        Self::spawn_with_env::<&str>(args, log_dir, cwd, &[])
    }

    /// [`HostProcess::spawn_in`] with extra environment variables.
    pub fn spawn_with_env<V: AsRef<std::ffi::OsStr>>(
        args: &[&str],
        log_dir: &Path,
        cwd: Option<&Path>,
        env: &[(&str, V)],
    ) -> Self {
        let log = log_dir.join(format!("host-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).unwrap();
        let out = if cwd.is_some() {
            Stdio::from(file.try_clone().unwrap())
        } else {
            Stdio::null()
        };
        let mut cmd = Command::new(binary());
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let child = cmd
            .args(args)
            .env_remove("MOOBIUS_EMAIL")
            .env_remove("MOOBIUS_PASSWORD")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_ref())))
            .stdout(out)
            .stderr(file)
            .spawn()
            .expect("host binary starts");
        HostProcess { child, log }
    }

    /// Where the log is written.
    pub fn log_path(&self) -> PathBuf {
        self.log.clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until one line of the log contains every one of `all`: the
    /// host reports refusals, reconnects and reloads only in its log.
    pub async fn wait_logged(&self, what: &str, all: &[&str]) {
        wait_for(what, || {
            let log = self.log();
            let found = log.lines().any(|l| all.iter().all(|w| l.contains(w)));
            async move { found.then_some(()) }
        })
        .await;
    }

    /// Fails the test when the process has exited.
    pub fn assert_running(&mut self, context: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the host exited {context} ({status}):\n{}", self.log());
        }
    }

    /// Sends SIGTERM, as a supervisor stopping the service would.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
    }

    /// Waits (with the deadline) until the process has exited.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        wait_for("the host exits", || {
            let exited = self.child.try_wait().unwrap();
            async move { exited }
        })
        .await
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- host log ({}) ---\n{}", self.log.display(), self.log());
        }
    }
}

/// A figure of `/proc/PID/status` in KiB (`VmRSS`: resident now, `VmHWM`:
/// the peak), 0 when it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let head = format!("{field}:");
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&head))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}
