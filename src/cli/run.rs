//! `moobius-host run`: one service against the platform in its config.

use clap::Args;
use moobius_host::admin::files::Published;
use moobius_host::bundle;
use moobius_host::config::{self, load::Overrides};
use moobius_host::host::deploy::{DeployOptions, Deployer, StartVersion};
use moobius_host::host::{BundleOptions, Host, HostError, HostOptions, RunningHost, ServicePaths};
use std::path::PathBuf;

/// Run a service directory against the platform named in its config.
///
/// Reads DIR/config/config.json (the Python SDK's shape), compiles
/// DIR/scripts/service.rhai, signs in, binds the configured channels and
/// serves them until Ctrl+C. Saving a script reloads it in place (the state
/// in `this` is kept; a version that does not compile is reported and the
/// running one continues). MOOBIUS_EMAIL and MOOBIUS_PASSWORD override the
/// account in the config. Exit code 2 means the config or the script is wrong.
///
/// With --bundle FILE the scripts and resources come from a bundle (see
/// `moobius-host bundle --help`), verified and unpacked into a private
/// temporary directory; the config is still DIR's own. Replacing FILE (by a
/// rename or a copy) swaps the running service to the new version between two
/// events, keeping `this`; a bundle that is refused or does not compile is
/// logged and the running version continues. With service_config.trusted_keys
/// in the config, a bundle that is unsigned or signed by another key is
/// refused, at start (exit 2) and as a replacement.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The service directory; script paths such as resources/avatar.png resolve against it.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The config file [default: DIR/config/config.json].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The entry script [default: DIR/scripts/service.rhai].
    #[arg(long, conflicts_with = "bundle")]
    pub script: Option<PathBuf>,
    /// Run the service in this bundle (.mbx) and swap versions when the file is replaced.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub limits: super::bundle::LimitArgs,
    /// Do not reload when files under the scripts directory (or the bundle) change.
    #[arg(long)]
    pub no_watch: bool,
    /// Also reload on SIGHUP (for deployments that push files without a watcher).
    #[arg(long)]
    pub reload_signal: bool,
    /// Serve the admin endpoint here (/healthz, /readyz, /metrics, /status,
    /// /spell), e.g. 127.0.0.1:9100 (port 0: any free port). Its token is in
    /// DIR/data/admin.token (or MOOBIUS_ADMIN_TOKEN), its URL in DIR/data/admin.url.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<std::net::SocketAddr>,
    /// Allow --admin on an address that is not loopback.
    #[arg(long)]
    pub admin_public: bool,
    /// `human` (the default) or `json`: one JSON object per line, with the
    /// span fields, on stderr and in the log files [default: log_config.log_format].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<moobius_host::config::LogFormat>,
    /// Serve as a node of a cluster through the Redis at URL
    /// (redis://HOST:PORT): every process started with the same service and
    /// URL shares its channels, and one of them, elected, holds the platform
    /// connection. Sets the config's `cluster.redis_url`; its `partitions`
    /// and `lease_ms` still apply. See docs/CLUSTER.md. With a password,
    /// give it in MOOBIUS_CLUSTER_URL rather than on the command line.
    #[arg(long, value_name = "URL", env = moobius_host::config::cluster::URL_ENV, hide_env_values = true)]
    pub cluster: Option<String>,
}

/// The config `run` serves with: the file, the environment's overrides and
/// the command line's (`--log-format`, `--cluster`). Read before the async
/// runtime starts, since it says how many workers the runtime has
/// (`runtime_threads`). The exit code when it is refused.
pub fn load(args: &RunArgs) -> Result<config::Config, u8> {
    let config_file = args
        .config
        .clone()
        .unwrap_or_else(|| args.dir.join("config").join("config.json"));
    let mut cfg = match config::load(&config_file, &args.dir, &Overrides::from_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(2);
        }
    };
    if let Some(format) = args.log_format {
        cfg.log.format = format;
    }
    if let Some(url) = &args.cluster {
        let mut cluster = cfg
            .cluster
            .take()
            .unwrap_or_else(|| config::ClusterConfig::with_url(url));
        cluster.redis_url = config::Secret::new(url.clone());
        if let Err(why) = config::cluster::check_url(&cluster) {
            eprintln!("error: --cluster: {why}");
            return Err(2);
        }
        cfg.cluster = Some(cluster);
    }
    Ok(cfg)
}

/// Serves the service of [`load`]'s config until it ends or is stopped.
pub async fn main(args: RunArgs, mut cfg: config::Config) -> u8 {
    if let Err(e) = moobius_host::logging::init(&cfg.log) {
        eprintln!("error: {e}");
        return 2;
    }
    for warning in &cfg.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = args
        .cluster
        .as_deref()
        .and_then(super::credentials_on_command_line)
    {
        tracing::warn!("{warning}");
    }
    let mut paths = ServicePaths::in_dir(&args.dir);
    if let Some(s) = args.script.clone() {
        paths.script = s;
    }
    let (status_tx, _status_rx) = tokio::sync::watch::channel(Default::default());
    let mut options = HostOptions {
        watch: !args.no_watch,
        reload_on_sighup: args.reload_signal,
        status: Some(status_tx.clone()),
        bundle_limits: args.limits.limits(),
        ..HostOptions::default()
    };
    let start = match &args.bundle {
        Some(file) => {
            StartVersion::Bundle(std::path::absolute(file).unwrap_or_else(|_| file.clone()))
        }
        None => StartVersion::Dir {
            script: paths.script.clone(),
            dir: args.dir.clone(),
        },
    };
    // Without a watcher the unpacked bundle is kept here, for the whole run.
    let mut _unpacked = None;
    let deployed = match cfg.cluster {
        Some(_) => super::run_deployed::cluster_deployed(&cfg, &args.limits.limits()),
        None => super::run_deployed::restart_on_deployed(&args.dir, &cfg, &args.limits.limits()),
    };
    match deployed {
        Some(Ok((unpacked, tag))) => {
            paths = ServicePaths {
                dir: unpacked.root().to_path_buf(),
                script: unpacked.entry(),
            };
            options.watch = false;
            options.version = Some(tag);
            _unpacked = Some(unpacked);
        }
        Some(Err(code)) => return code,
        None => {
            if let Some(file) = &args.bundle {
                let trust = cfg.service.trusted_keys.clone();
                match serve_bundle(file, &args, trust, &mut paths, &mut options) {
                    Ok(kept) => _unpacked = kept,
                    Err(code) => return code,
                }
            }
        }
    }
    let deploys = (cfg.cluster.is_none()).then(|| DeployOptions {
        data_dir: args.dir.join("data"),
        trust: cfg.service.trusted_keys.clone(),
        limits: args.limits.limits(),
        config: cfg.deploy.clone(),
        start,
    });
    let mut stop = super::shutdown_on_signal();
    // Only on a terminal: off one, the host's own log lines say the same.
    let waiting = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        moobius_host::progress::Progress::spinner(&format!(
            "signing in and connecting to {}",
            config::shown_url(&cfg.service.http_server_uri)
        ))
    });
    let admin_addr = args.admin.or(cfg.service.admin);
    let admin_public = args.admin_public || cfg.service.admin_public;
    // Bound before the host starts, so that the address scripts are kept
    // from is the real one (`--admin 127.0.0.1:0` picks its port here).
    let admin_listener = match admin_addr {
        Some(addr) => match bind_admin(addr, admin_public).await {
            Ok(bound) => Some(bound),
            Err(why) => {
                eprintln!("error: {why}");
                return 2;
            }
        },
        None => None,
    };
    // Scripts reach the admin endpoint only where http_allow names it.
    cfg.service.requests.admin = admin_listener.as_ref().map(|(_, bound)| *bound);
    if admin_addr.is_some() {
        // Before anything records, so that no part of the host keeps a
        // handle taken while metrics were off.
        moobius_host::metrics::install();
    }
    let mut host = Host::start(cfg, paths, options);
    let deployer = deploys.map(|opts| Deployer::new(host.probe(), status_tx.clone(), opts));
    let _admin = match admin_listener {
        Some(bound) => match start_admin(bound, &args.dir, &host, deployer) {
            Ok(task) => Some(task),
            Err(why) => {
                eprintln!("error: {why}");
                let _ = host.shutdown(moobius_host::timeouts::HOST_STOP_GRACE).await;
                return 2;
            }
        },
        None => None,
    };
    let ended = tokio::select! {
        r = serve(&mut host, waiting) => Some(r),
        _ = stop.wait_for(|stop| *stop) => None,
    };
    let result = match ended {
        Some(r) => r,
        // The flush bound, and a margin for the handler that was running.
        None => host.shutdown(moobius_host::timeouts::HOST_TERM_GRACE).await,
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code() as u8
        }
    }
}

/// Points the host at an unpacked bundle, watched for live swaps unless
/// `--no-watch` (then the unpacked copy is returned, to be kept for the run).
/// The exit code when the bundle is refused.
fn serve_bundle(
    file: &std::path::Path,
    args: &RunArgs,
    trust: bundle::TrustedKeys,
    paths: &mut ServicePaths,
    options: &mut HostOptions,
) -> Result<Option<bundle::Unpacked>, u8> {
    let limits = args.limits.limits();
    let unpacked = match bundle::unpack(file, &limits, &trust) {
        Ok(u) => u,
        Err(e @ bundle::BundleError::Io { .. }) => {
            eprintln!("error: {e}");
            return Err(1);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Err(e.exit_code() as u8);
        }
    };
    let m = &unpacked.manifest;
    let signer = unpacked
        .signer
        .map_or("none".to_string(), |k| k.to_string());
    tracing::info!(bundle = %file.display(), name = %m.name, version = %m.version, %signer, "serving the bundle");
    *paths = ServicePaths {
        dir: unpacked.root().to_path_buf(),
        script: unpacked.entry(),
    };
    options.watch = false;
    if args.no_watch {
        return Ok(Some(unpacked));
    }
    options.bundle = Some(BundleOptions {
        file: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
        limits,
        trust,
        current: unpacked,
    });
    Ok(None)
}

/// The admin endpoint's listener on `addr` (refused on an address that is
/// not loopback unless `public`), and the address it is bound to.
async fn bind_admin(
    addr: std::net::SocketAddr,
    public: bool,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), moobius_host::Reason> {
    moobius_host::admin::allowed(&addr, public)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("admin endpoint: cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("admin endpoint: {e}"))?;
    Ok((listener, bound))
}

/// Starts the admin endpoint for `host` on its bound listener: the token
/// and the URL are written under `DIR/data/` (this process's own pair is
/// removed when the returned files are dropped).
fn start_admin(
    (listener, bound): (tokio::net::TcpListener, std::net::SocketAddr),
    dir: &std::path::Path,
    host: &RunningHost,
    deployer: Option<Deployer>,
) -> Result<(tokio::task::JoinHandle<()>, Published), moobius_host::Reason> {
    use moobius_host::admin;
    let (token, generated) = admin::token::token_for_start();
    let published = admin::files::publish(dir, bound, &token, generated).map_err(|e| {
        format!(
            "admin endpoint: cannot write under {}: {e}",
            dir.join(admin::files::ENDPOINTS_DIR).display()
        )
    })?;
    let metrics = moobius_host::metrics::install();
    tracing::info!(url = %published.url, "admin endpoint listening");
    Ok((
        admin::spawn(listener, host.probe(), token, metrics, deployer),
        published,
    ))
}

/// Serves until the host ends on its own (a failure, usually).
async fn serve(
    host: &mut RunningHost,
    waiting: Option<moobius_host::progress::Progress>,
) -> Result<(), HostError> {
    let started = host.started().await;
    if let (Ok(Some(_)), Some(w)) = (&started, waiting) {
        w.finish();
    }
    started?;
    // What the start-up freed (the compile, the sign-in) goes back to the
    // system, again once the first views are out, and later bursts'
    // leftovers every minute; so does the start-up's code (src/memory.rs).
    moobius_host::memory::release_free();
    moobius_host::memory::release_code_pages();
    let _release = moobius_host::memory::spawn_periodic_release(
        moobius_host::memory::SETTLED_AFTER,
        moobius_host::memory::RELEASE_INTERVAL,
    );
    host.finished().await
}
