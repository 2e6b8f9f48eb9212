//! The `moobius-host` command line. Parsing and user-facing output only; the
//! work is in the library.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Run Moobius Custom Channel Services written as Rhai scripts.
///
/// A service directory holds `scripts/service.rhai` (the entry script),
/// `resources/` (avatars and files the script refers to) and
/// `config/config.json` (the Python SDK's config shape).
#[derive(Parser)]
#[command(name = "moobius-host", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(cli::run::RunArgs),
    Dev(cli::dev::DevArgs),
    Sandbox(cli::sandbox::SandboxArgs),
    Bundle(cli::bundle::BundleArgs),
    Test(cli::test::TestArgs),
    Check(cli::check::CheckArgs),
    New(cli::new::NewArgs),
    Defs(cli::defs::DefsArgs),
    Spell(cli::spell::SpellArgs),
    Deploy(cli::deploy::DeployArgs),
    Cluster(cli::cluster::ClusterArgs),
}

/// The exit status of a process stopped by a panic (Rust's own, for a panic
/// on the main thread).
const PANIC_EXIT: i32 = 101;

/// A panic anywhere (a task of the runtime, the script thread, a helper
/// thread) is a bug, and the process must not limp on without the part that
/// died, nor exit 0 as if it was stopped: it ends at once with a non-zero
/// status, so that a supervisor restarts it.
fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("error: internal failure (a bug, see above); stopping with status {PANIC_EXIT} so that a supervisor restarts the service");
        std::process::exit(PANIC_EXIT);
    }));
}

/// Debug builds only: `MOOBIUS_HOST_PANIC_IN_TASK=MS` panics in a runtime
/// task after MS milliseconds, so tests can check [`exit_on_panic`].
fn panic_in_task_for_tests() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("MOOBIUS_HOST_PANIC_IN_TASK")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            panic!("MOOBIUS_HOST_PANIC_IN_TASK: a test asked for a panic in a task");
        });
    }
}

/// A command ready to run. `run` has read its config already: it says how
/// many workers the runtime has, so it is read before the runtime starts.
enum Ready {
    Run(Box<cli::run::RunArgs>, Box<moobius_host::config::Config>),
    Other(Command),
}

fn main() -> ExitCode {
    exit_on_panic();
    let cli = Cli::parse();
    moobius_host::platform::ensure_crypto_provider();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let ready = match cli.command {
        Command::Run(args) => match cli::run::load(&args) {
            Ok(cfg) => {
                // Before any thread allocates (src/memory.rs).
                moobius_host::memory::limit_arenas();
                builder.worker_threads(cfg.service.runtime_threads);
                Ready::Run(Box::new(args), Box::new(cfg))
            }
            Err(code) => return ExitCode::from(code),
        },
        other => Ready::Other(other),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        panic_in_task_for_tests();
        let command = match ready {
            Ready::Run(args, cfg) => return cli::run::main(*args, *cfg).await,
            Ready::Other(command) => command,
        };
        match command {
            Command::Run(args) => match cli::run::load(&args) {
                Ok(cfg) => cli::run::main(args, cfg).await,
                Err(code) => code,
            },
            Command::Dev(args) => cli::dev::main(args).await,
            Command::Sandbox(args) => cli::sandbox::main(args).await,
            Command::Bundle(args) => cli::bundle::main(args),
            Command::Test(args) => cli::test::main(args).await,
            Command::Check(args) => cli::check::main(args),
            Command::New(args) => cli::new::main(args),
            Command::Defs(args) => cli::defs::main(args),
            Command::Spell(args) => cli::spell::main(args).await,
            Command::Deploy(args) => cli::deploy::main(args).await,
            Command::Cluster(args) => cli::cluster::main(args),
        }
    });
    // Do not wait for a handler stuck in a host call: the work is done.
    runtime.shutdown_timeout(moobius_host::timeouts::RUNTIME_STOP);
    ExitCode::from(code)
}
