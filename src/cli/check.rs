//! `moobius-host check`: compiles a service (a directory or a bundle) and
//! reports errors and warnings like a compiler, without any network.

use clap::Args;
use moobius_host::bundle::{self, BundleLimits};
use moobius_host::host::ServicePaths;
use moobius_host::script::check::check_service;
use std::path::PathBuf;

/// Check a service's scripts without running them.
///
/// Compiles DIR/scripts/service.rhai with its imports as `run` would,
/// every other script under DIR/scripts and the scenario tests under
/// DIR/tests/scenarios for syntax; with a bundle (.mbx),
/// verifies and unpacks it first. Errors are printed as `path:line:col:
/// message` with the source line and a caret. Warnings: handler names that
/// look misspelled (on_joined: did you mean on_join?), handlers with the
/// wrong number of parameters, host functions called with the wrong number
/// of arguments, the script's own functions called with the wrong number of
/// arguments or without `this.` when they use `this`, store names db_config
/// does not list, calls to functions nobody defines (send_mesage: did you
/// mean send_message?). Exit code 0 when clean, 1 for warnings with
/// --deny-warnings, 2 for errors.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A service directory or a bundle (.mbx).
    #[arg(default_value = ".")]
    pub target: PathBuf,
    /// The entry script [default: scripts/service.rhai in the service].
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Exit with 1 when there are warnings.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn main(args: CheckArgs) -> u8 {
    // A bundle is unpacked into a private directory that lives until the end.
    let mut _unpacked = None;
    let paths = if args.target.is_file() {
        // A signature is checked if present; which keys to trust is `bundle verify --trust`'s.
        match bundle::unpack(&args.target, &BundleLimits::default(), &Default::default()) {
            Ok(u) => {
                let p = ServicePaths {
                    dir: u.root().to_path_buf(),
                    script: u.entry(),
                };
                _unpacked = Some(u);
                p
            }
            Err(e) => {
                eprintln!("error: {}: {e}", args.target.display());
                return 2;
            }
        }
    } else {
        let mut p = ServicePaths::in_dir(&args.target);
        if let Some(s) = args.script {
            p.script = s;
        }
        p
    };
    let report = check_service(
        &paths.dir,
        &paths.script,
        &moobius_host::scenario::function_table(),
    );
    for f in &report.findings {
        println!("{}\n", f.rendered);
    }
    let (errors, warnings) = (report.errors(), report.warnings());
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    println!(
        "checked {}: {}, {}",
        plural(report.files, "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if errors > 0 {
        2
    } else if warnings > 0 && args.deny_warnings {
        1
    } else {
        0
    }
}
