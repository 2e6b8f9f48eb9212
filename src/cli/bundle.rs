//! `moobius-host bundle pack|inspect|verify`: making and checking bundles
//! before they are copied to a server. Exit codes: 0 fine, 2 a bad (or
//! hostile) bundle or an unpackable directory, 1 anything else (a missing
//! file, a full disk).

use clap::{Args, Subcommand};
use moobius_host::bundle::{self, BundleError, BundleLimits, Entry, Manifest};
use std::path::{Path, PathBuf};

/// Make, inspect and verify service bundles (.mbx).
///
/// A bundle is one file holding a service's scripts, resources, a config
/// template (never credentials) and optional scenario tests, with a manifest
/// of every file's SHA-256. It is a gzip-compressed tar archive, so `tar tzf`
/// lists it. Run one with `moobius-host run --bundle FILE`.
#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    Pack(PackArgs),
    Inspect(InspectArgs),
    Verify(VerifyArgs),
}

/// Pack a service directory into a bundle.
///
/// Includes scripts/**.rhai, resources/**, tests/scenarios/**.rhai and
/// config/config.json (plus the section files it names) as a template with
/// account_config, every credential key (password, passwd, pwd, *token*,
/// *secret*, private_key, auth, authorization, bearer, session_cookie, sig,
/// ...) and the user:password@ part of every URL removed; what was removed
/// is listed by key (never by value). Dotfiles are skipped and
/// symbolic links refused. The scripts are compiled first. Packing the same
/// tree twice gives identical bytes: the creation time is SOURCE_DATE_EPOCH,
/// else the newest file's modification time.
#[derive(Args, Debug)]
pub struct PackArgs {
    /// The service directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The bundle to write (replaced atomically), e.g. my-service.mbx.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The bundle's version [default: from DIR/bundle.toml or DIR/manifest.json, else 0.0.0].
    #[arg(long = "version", value_name = "V")]
    pub bundle_version: Option<String>,
    /// The bundle's name [default: from DIR/bundle.toml or DIR/manifest.json, else the directory's name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Show a bundle's manifest and its files (nothing is checked or unpacked).
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Print {"manifest": ..., "entries": [...]} as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Check a bundle completely, without running it and without network.
///
/// Unpacks it into a private temporary directory (refusing unsafe names,
/// links, duplicates, unlisted or missing files, hash or size mismatches,
/// too many entries, too many bytes, compression bombs, a host too old, a
/// damaged gzip trailer or bytes after the gzip stream),
/// then compiles every script. Exits 0 when it would run, 2 naming the first
/// problem otherwise.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The bundle.
    pub file: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Limits for reading bundles.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Refuse bundles holding more than this many MiB of files.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_unpacked_mib: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> BundleLimits {
        BundleLimits {
            max_unpacked_bytes: self.max_unpacked_mib.saturating_mul(1 << 20),
            ..BundleLimits::default()
        }
    }
}

pub fn main(args: BundleArgs) -> u8 {
    let result = match args.command {
        BundleCommand::Pack(a) => pack(&a),
        BundleCommand::Inspect(a) => inspect(&a),
        BundleCommand::Verify(a) => verify(&a),
    };
    match result {
        Ok(()) => 0,
        Err((file, e)) => {
            match e {
                // Already names its file.
                BundleError::Io { .. } => eprintln!("error: {e}"),
                _ => eprintln!("error: {}: {e}", file.display()),
            }
            e.exit_code() as u8
        }
    }
}

type Outcome = Result<(), (PathBuf, BundleError)>;

fn pack(a: &PackArgs) -> Outcome {
    let given = bundle::MetaOverrides {
        name: a.name.as_deref(),
        version: a.bundle_version.as_deref(),
    };
    let packed =
        bundle::pack_with_report(&a.dir, &a.output, given).map_err(|e| (a.dir.clone(), e))?;
    let m = &packed.manifest;
    println!(
        "packed {} {} into {}: {} files, {} bytes",
        m.name,
        m.version,
        a.output.display(),
        m.files.len(),
        m.total_size()
    );
    // Key paths only: the values never reach the terminal.
    for stripped in &packed.stripped {
        println!("stripped: {stripped}");
    }
    Ok(())
}

fn inspect(a: &InspectArgs) -> Outcome {
    let (manifest, entries) =
        bundle::inspect(&a.file, &a.limits.limits()).map_err(|e| (a.file.clone(), e))?;
    if a.json {
        let v = serde_json::json!({"manifest": manifest, "entries": entries});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", describe(&a.file, &manifest, &entries));
    }
    Ok(())
}

/// The human-readable form of `inspect`.
fn describe(file: &Path, m: &Manifest, entries: &[Entry]) -> String {
    let mut out = format!(
        "{}\n  name:             {}\n  version:          {}\n  entry:            {}\n  min host version: {}\n  created:          {}\n  files:            {} ({} bytes)\n\n",
        file.display(),
        m.name,
        m.version,
        m.entry,
        m.min_host_version,
        m.created,
        m.files.len(),
        m.total_size()
    );
    for e in entries {
        let sha = m
            .file(&e.path)
            .map(|f| &f.sha256[..f.sha256.len().min(12)])
            .unwrap_or("");
        let note = match (e.kind.as_str(), e.in_manifest) {
            ("file", true) => String::new(),
            ("file", false) => "  (not in the manifest)".into(),
            (kind, _) => format!("  ({kind})"),
        };
        out.push_str(&format!(
            "  {:>10}  {:<12}  {}{note}\n",
            e.size, sha, e.path
        ));
    }
    out
}

fn verify(a: &VerifyArgs) -> Outcome {
    let m = bundle::verify(&a.file, &a.limits.limits()).map_err(|e| (a.file.clone(), e))?;
    println!(
        "{}: ok ({} {}, {} files, every hash checked, every script compiles)",
        a.file.display(),
        m.name,
        m.version,
        m.files.len()
    );
    Ok(())
}
