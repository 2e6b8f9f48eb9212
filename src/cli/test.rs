//! `moobius-host test`: runs scenario files against the service's scripts,
//! each test in a fresh in-process sandbox and host.

use clap::Args;
use moobius_host::config::LogConfig;
use moobius_host::scenario::{self, RunOptions};
use std::path::PathBuf;

/// Run scenario tests.
///
/// A scenario is a Rhai file whose `test_*()` functions play members
/// (`let alice = member("alice"); alice.join();`) and check what they see
/// (`assert_eq(alice.sees(), ["alice", "Meow"])`). Each test runs against a
/// fresh local sandbox and a fresh host on the service's scripts; every step
/// waits for the service to settle. The service's config/config.json applies
/// as under `run` (http_allow, script_limits, script_threads, db_config; no
/// account needed). Prints one line per test and a summary
/// `N passed, N failed`. Exit code 1 when a test failed, 2 when a scenario
/// file does not compile.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Scenario files [default: DIR/tests/scenarios/*.rhai].
    pub files: Vec<PathBuf>,
    /// The service directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The entry script to test [default: a scenario's `// script: PATH` line, else DIR/scripts/service.rhai].
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Only run tests whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Log level of the host and sandbox (script errors are logged at ERROR).
    #[arg(long, default_value = "ERROR")]
    pub log_level: String,
}

pub async fn main(args: TestArgs) -> u8 {
    let log = LogConfig {
        terminal_log_level: args.log_level.clone(),
        ..LogConfig::default()
    };
    if let Err(e) = moobius_host::logging::init(&log) {
        eprintln!("error: {e}");
        return 2;
    }
    let opts = RunOptions {
        dir: args.dir,
        script: args.script,
        files: args.files,
        filter: args.filter,
    };
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Scenarios block on the runtime, so they run on a thread of their own.
    let spawned = std::thread::Builder::new()
        .name("scenarios".into())
        .stack_size(moobius_host::script::SCRIPT_THREAD_STACK)
        .spawn(move || {
            let mut out = std::io::stdout();
            let _ = tx.send(scenario::run(&opts, handle, &mut out));
        });
    if let Err(e) = spawned {
        eprintln!("error: cannot start the scenario thread: {e}");
        return 1;
    }
    match rx.await {
        Ok(summary) => summary.exit_code(),
        Err(_) => {
            eprintln!("error: the scenario runner stopped unexpectedly");
            1
        }
    }
}
