//! `moobius-host bundle keygen|pack|inspect|verify`: making, signing and
//! checking bundles before they are copied to a server. Exit codes: 0 fine,
//! 2 a bad (or hostile, or untrusted) bundle, a bad key or an unpackable
//! directory, 1 anything else (a missing file, a full disk).

use clap::{Args, Subcommand};
use moobius_host::bundle::{
    self, BundleError, BundleLimits, Inspection, KeyError, PublicKey, SecretKey, TrustedKeys,
};
use std::path::{Path, PathBuf};

/// Make, sign, inspect and verify service bundles (.mbx).
///
/// A bundle is one file holding a service's scripts, resources, a config
/// template (never credentials) and optional scenario tests, with a manifest
/// of every file's SHA-256. It is a gzip-compressed tar archive, so `tar tzf`
/// lists it. Run one with `moobius-host run --bundle FILE`.
///
/// Bundles can be signed: `bundle keygen release` makes a key pair,
/// `bundle pack --sign release.key` signs the manifest (which holds every
/// file's hash), and a host whose config lists the public key in
/// service_config.trusted_keys runs only bundles signed by it.
#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    Keygen(KeygenArgs),
    Pack(PackArgs),
    Inspect(InspectArgs),
    Verify(VerifyArgs),
}

/// Make an Ed25519 key pair for signing bundles: NAME.key and NAME.pub.
///
/// NAME.key is the secret (created readable by its owner only, 0600): keep
/// it off servers and out of the service directory (`bundle pack` refuses
/// to pack it). NAME.pub is the public key; its key line (ed25519:...) goes
/// into the host's service_config.trusted_keys, or to `bundle verify
/// --trust`. Each key has an id (the first 8 bytes of its SHA-256, in hex)
/// that inspect, verify and refusals name.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the pair: NAME.key and NAME.pub (a .key or .pub ending is dropped).
    pub name: PathBuf,
    /// Replace existing files of those names (the old secret key is lost).
    #[arg(long)]
    pub force: bool,
}

/// Pack a service directory into a bundle.
///
/// Includes scripts/**.rhai, resources/**, tests/scenarios/**.rhai and
/// config/config.json (plus the section files it names) as a template with
/// account_config, every credential key (password, passwd, pwd, *token*,
/// *secret*, private_key, auth, authorization, bearer, session_cookie, sig,
/// ...) and the user:password@ part of every URL removed; what was removed
/// is listed by key (never by value). Dotfiles are skipped and
/// symbolic links refused, and a file holding a secret key (a bundle
/// signing key or a PEM private key) stops the packing. The scripts are
/// compiled first. Packing the same tree twice gives identical bytes: the
/// creation time is SOURCE_DATE_EPOCH, else the newest file's modification
/// time.
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
    /// Sign the manifest with this secret key (from `bundle keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
}

/// Show a bundle's manifest, its files and its signer (nothing is unpacked).
///
/// The signer is shown by key id, with whether its signature matches the
/// manifest; no key is trusted or refused here, and no file is hashed (use
/// `bundle verify` for that).
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Print {"manifest": ..., "entries": [...], "signature": {"key_id", "matches_manifest"} or null} as JSON.
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
/// then compiles every script. A signature is always checked against the
/// manifest; with --trust the bundle must also be signed by one of those
/// keys. Exits 0 when it would run, 2 naming the first problem otherwise.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Accept only a bundle signed by this public key: a .pub file, or its
    /// key line (ed25519:...). Repeat for several keys.
    #[arg(long, value_name = "PUBKEY")]
    pub trust: Vec<String>,
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
        BundleCommand::Keygen(a) => keygen(&a),
        BundleCommand::Pack(a) => pack(&a),
        BundleCommand::Inspect(a) => inspect(&a),
        BundleCommand::Verify(a) => verify(&a),
    };
    match result {
        Ok(()) => 0,
        Err((file, e)) => {
            match e {
                // Already names its file.
                BundleError::Io { .. } | BundleError::Key(_) => eprintln!("error: {e}"),
                _ => eprintln!("error: {}: {e}", file.display()),
            }
            e.exit_code() as u8
        }
    }
}

type Outcome = Result<(), (PathBuf, BundleError)>;

fn keygen(a: &KeygenArgs) -> Outcome {
    let fail = |e: KeyError| (a.name.clone(), BundleError::from(e));
    let key = SecretKey::generate().map_err(fail)?;
    let (secret, public) = key.write_pair(&a.name, a.force).map_err(fail)?;
    println!(
        "wrote {} (secret: keep it private) and {}, key id {}",
        secret.display(),
        public.display(),
        key.public().id()
    );
    println!("trust it with: {}", key.public().to_line());
    Ok(())
}

fn pack(a: &PackArgs) -> Outcome {
    let key = match &a.sign {
        Some(path) => {
            Some(SecretKey::read(path).map_err(|e| (path.clone(), BundleError::from(e)))?)
        }
        None => None,
    };
    let given = bundle::MetaOverrides {
        name: a.name.as_deref(),
        version: a.bundle_version.as_deref(),
    };
    let packed = bundle::pack_with_report(&a.dir, &a.output, given, key.as_ref())
        .map_err(|e| (a.dir.clone(), e))?;
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
    if let Some(id) = packed.signer {
        println!("signed by key {id}");
    }
    Ok(())
}

fn inspect(a: &InspectArgs) -> Outcome {
    let found = bundle::inspect(&a.file, &a.limits.limits()).map_err(|e| (a.file.clone(), e))?;
    if a.json {
        let v = serde_json::json!({
            "manifest": found.manifest,
            "entries": found.entries,
            "signature": found.signature,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", describe(&a.file, &found));
    }
    Ok(())
}

/// The human-readable form of `inspect`.
fn describe(file: &Path, found: &Inspection) -> String {
    let m = &found.manifest;
    let signed = match &found.signature {
        None => "no (unsigned)".to_string(),
        Some(s) if s.matches_manifest => format!("key {}", s.key_id),
        Some(s) => format!(
            "key {}, but the signature does NOT match the manifest",
            s.key_id
        ),
    };
    let mut out = format!(
        "{}\n  name:             {}\n  version:          {}\n  entry:            {}\n  min host version: {}\n  created:          {}\n  signed by:        {signed}\n  files:            {} ({} bytes)\n\n",
        file.display(),
        m.name,
        m.version,
        m.entry,
        m.min_host_version,
        m.created,
        m.files.len(),
        m.total_size()
    );
    for e in &found.entries {
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
    let trust = trusted(&a.trust)?;
    let v = bundle::verify(&a.file, &a.limits.limits(), &trust).map_err(|e| (a.file.clone(), e))?;
    let m = &v.manifest;
    let signed = match (v.signer, trust.is_empty()) {
        (None, _) => "unsigned".to_string(),
        (Some(id), false) => format!("signed by trusted key {id}"),
        (Some(id), true) => {
            format!("signed by key {id}, not checked against a trusted key (no --trust)")
        }
    };
    println!(
        "{}: ok ({} {}, {} files, every hash checked, every script compiles, {signed})",
        a.file.display(),
        m.name,
        m.version,
        m.files.len()
    );
    Ok(())
}

/// `--trust` values: key lines as they are, anything else a .pub file.
fn trusted(given: &[String]) -> Result<TrustedKeys, (PathBuf, BundleError)> {
    let mut keys = Vec::with_capacity(given.len());
    for g in given {
        let key = if g.trim_start().starts_with(bundle::PUBLIC_PREFIX) {
            PublicKey::parse(g).map_err(|e| KeyError::Invalid(format!("--trust: {e}")))
        } else {
            PublicKey::read(Path::new(g))
        };
        let key = key.map_err(|e| (PathBuf::new(), BundleError::from(e)))?;
        keys.push(key);
    }
    Ok(TrustedKeys::new(keys))
}
