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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    moobius_host::platform::ensure_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => cli::run::main(args).await,
            Command::Dev(args) => cli::dev::main(args).await,
            Command::Sandbox(args) => cli::sandbox::main(args).await,
            Command::Bundle(args) => cli::bundle::main(args),
            Command::Test(args) => cli::test::main(args).await,
            Command::Check(args) => cli::check::main(args),
            Command::New(args) => cli::new::main(args),
        }
    });
    // Do not wait for a handler stuck in a host call: the work is done.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}
