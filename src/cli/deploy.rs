//! `moobius-host deploy`: ship a bundle to a running service, roll back,
//! list the deploys (docs/DEPLOY.md). The host does the work behind its
//! admin endpoint (`POST /deploy`, `POST /deploy/rollback`, `GET
//! /deploys`); this finds the endpoint and its token as `spell` does,
//! sends, waits for the outcome and prints it.

use clap::{Args, Subcommand};
use moobius_host::admin::files::Endpoint;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Ship a new version to a running service (`run --admin`), roll back,
/// or list the deploys.
///
/// `deploy BUNDLE` sends the bundle (`bundle pack`) to the service's admin
/// endpoint (found, with its token, as `spell` finds it: DIR/data/admin/,
/// or --url and MOOBIUS_ADMIN_TOKEN). The host verifies it (with
/// service_config.trusted_keys, an unsigned bundle or another key's is
/// refused), compiles it on every script thread and runs its `on_reload`
/// on a copy of `this` (a thread that cannot vetoes it: nothing changes),
/// then moves every script thread to it between two events, `this` kept.
///
/// With --canary PCT only that share of the script threads (at least one)
/// runs it first, for --window; their handler errors and latency are
/// compared with the other threads' (thresholds: the config's `deploy`
/// section), then it is promoted everywhere or rolled back by itself.
///
/// `deploy --rollback` returns to the version that ran before, in one step
/// (during a canary, it ends the canary: its threads go back).
/// `deploy list` prints the last deploys, newest first. A restarted host
/// runs the last promoted deploy (kept under DIR/data/deploys/).
///
/// Exit code 0: promoted (or listed); 1: rolled back, vetoed, refused,
/// failed, or another deploy runs; 2: bad input or no endpoint.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: Option<DeployCommand>,
    /// The bundle (.mbx) to deploy.
    #[arg(required_unless_present = "rollback", conflicts_with = "rollback")]
    pub bundle: Option<PathBuf>,
    /// Return to the version that ran before the current one.
    #[arg(long)]
    pub rollback: bool,
    /// Run it on this share of the script threads first (`10%` or `10`;
    /// in a cluster, of the nodes, rounded up to whole nodes), then promote
    /// or roll back by itself.
    #[arg(long, value_name = "PCT", conflicts_with = "rollback", value_parser = parse_pct)]
    pub canary: Option<u32>,
    /// How long to watch the canary (`30s`, `2m`, `500ms`; a bare number is
    /// seconds) [default: the config's deploy.canary_window_ms, 60 s].
    #[arg(long, value_name = "DURATION", requires = "canary", value_parser = parse_duration)]
    pub window: Option<Duration>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The running service's directory (its data/admin/ says where its
    /// endpoint is).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The admin endpoint [default: the newest running one of DIR]; its
    /// token is its published one or MOOBIUS_ADMIN_TOKEN.
    #[arg(long)]
    pub url: Option<String>,
    /// Deploy to the cluster at this Redis [default: the config's
    /// cluster.redis_url, when DIR's config has a `cluster` section]. With a
    /// password, give it in MOOBIUS_CLUSTER_URL rather than on the command line.
    #[arg(long, value_name = "URL", env = moobius_host::config::cluster::URL_ENV, hide_env_values = true)]
    pub cluster: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DeployCommand {
    /// Print the last deploys, newest first: id, kind, version, sha256,
    /// signer, when, outcome (and why, when it was not promoted).
    List {
        #[command(flatten)]
        target: Target,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_pct(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if (1..=100).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n}% is out of range (1 to 100)"))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (30s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a duration"))
}

pub async fn main(args: DeployArgs) -> u8 {
    moobius_host::platform::ensure_crypto_provider();
    if let Some(cfg) = cluster_config(&args) {
        let result = match cfg {
            Ok(cfg) => tokio::task::spawn_blocking(move || in_cluster(&args, &cfg))
                .await
                .unwrap_or_else(|e| Err(e.to_string())),
            Err(e) => Err(e),
        };
        return result.unwrap_or_else(|why| {
            eprintln!("error: {why}");
            2
        });
    }
    let result = match &args.command {
        Some(DeployCommand::List { target, json }) => super::deploy_list::list(target, *json).await,
        None if args.rollback => rollback(&args.target).await,
        None => deploy(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(why) => {
            eprintln!("error: {why}");
            2
        }
    }
}

/// DIR's config when the deploy goes to a cluster (`--cluster`, or a
/// `cluster` section); `None` for a lone host.
fn cluster_config(args: &DeployArgs) -> Option<Result<moobius_host::config::Config, String>> {
    use moobius_host::config::{self, load::Overrides};
    let target = match &args.command {
        Some(DeployCommand::List { target, .. }) => target,
        None => &args.target,
    };
    let file = target.dir.join("config").join("config.json");
    let loaded = config::load(&file, &target.dir, &Overrides::no_account());
    let mut cfg = match (loaded, &target.cluster) {
        (Ok(c), _) => c,
        (Err(e), Some(_)) => return Some(Err(e.to_string())),
        (Err(_), None) => return None,
    };
    if let Some(url) = &target.cluster {
        let mut cluster = cfg
            .cluster
            .take()
            .unwrap_or_else(|| config::ClusterConfig::with_url(url));
        cluster.redis_url = config::Secret::new(url.clone());
        cfg.cluster = Some(cluster);
    }
    cfg.cluster.is_some().then_some(Ok(cfg))
}

/// `deploy`, `deploy --rollback` or `deploy list` for a cluster.
fn in_cluster(args: &DeployArgs, cfg: &moobius_host::config::Config) -> Result<u8, String> {
    let d = super::deploy_cluster::open(cfg)?;
    match (&args.command, &args.bundle) {
        (Some(DeployCommand::List { json, .. }), _) => super::deploy_cluster::list(&d, *json),
        (None, _) if args.rollback => super::deploy_cluster::rollback(&d),
        (None, Some(file)) => {
            let window = args.window.unwrap_or(cfg.deploy.canary_window);
            super::deploy_cluster::deploy(&d, file, args.canary, window)
        }
        (None, None) => Err("give a bundle, --rollback, or `list`".into()),
    }
}

/// The endpoint to talk to: the first published one that answers.
pub(super) struct Client {
    pub(super) http: reqwest::Client,
    endpoint: Endpoint,
}

impl Client {
    fn token(&self) -> Result<&str, String> {
        self.endpoint
            .token
            .as_ref()
            .map(|t| t.expose())
            .ok_or_else(|| {
                format!(
                    "no token for {}; set {}",
                    self.endpoint.url,
                    moobius_host::admin::token::TOKEN_ENV
                )
            })
    }

    pub(super) async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let url = &self.endpoint.url;
        let response = req
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(|e| format!("no answer from {url}: {}", e.without_url()))?;
        let status = response.status().as_u16();
        let body = response
            .json()
            .await
            .map_err(|e| format!("{url} answered {status} without JSON: {}", e.without_url()))?;
        Ok((status, body))
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.url)
    }
}

/// The newest published endpoint of the directory that can be connected
/// to (files left by a killed process name ports nobody listens on), or
/// `--url`'s.
pub(super) async fn client(target: &Target) -> Result<Client, String> {
    let endpoints = super::spell::targets(&target.dir, target.url.as_deref())?;
    let http = reqwest::Client::new();
    let mut unreachable = Vec::new();
    for endpoint in endpoints {
        match http.get(format!("{}/healthz", endpoint.url)).send().await {
            Err(e) if e.is_connect() => {
                unreachable.push(format!(
                    "cannot reach {}: {}",
                    endpoint.url,
                    e.without_url()
                ));
            }
            _ => return Ok(Client { http, endpoint }),
        }
    }
    Err(format!(
        "{}; no process serving {} answers (is the service running with --admin?)",
        unreachable.join("; "),
        target.dir.display()
    ))
}

async fn deploy(args: &DeployArgs) -> Result<u8, String> {
    let Some(file) = &args.bundle else {
        return Err("give a bundle, --rollback, or `list`".into());
    };
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let c = client(&args.target).await?;
    let mut query = Vec::new();
    if let Some(pct) = args.canary {
        query.push(format!("canary={pct}"));
    }
    if let Some(w) = args.window {
        query.push(format!("window_ms={}", w.as_millis()));
    }
    let url = format!("{}?{}", c.url("/deploy"), query.join("&"));
    println!(
        "deploying {} ({} bytes) to {}",
        file.display(),
        bytes.len(),
        c.endpoint.url
    );
    let (status, report) = c.send(c.http.post(url).body(bytes)).await?;
    finish(&c, status, report).await
}

async fn rollback(target: &Target) -> Result<u8, String> {
    let c = client(target).await?;
    println!("rolling back at {}", c.endpoint.url);
    let (status, report) = c.send(c.http.post(c.url("/deploy/rollback"))).await?;
    let code = finish(&c, status, report.clone()).await?;
    // During a canary, a rollback is the canary rolled back: what was asked.
    let ended_canary =
        text(&report, "kind") == "deploy" && text(&report, "outcome") == "rolled_back";
    Ok(if ended_canary { 0 } else { code })
}

/// Prints the host's report; for a canary, follows it to its outcome.
async fn finish(c: &Client, status: u16, report: Value) -> Result<u8, String> {
    if let Some(err) = report.get("error").and_then(Value::as_str) {
        eprintln!("error: {err}");
        return Ok(if status == 400 { 2 } else { 1 });
    }
    print_started(&report);
    let report = if report.get("outcome").is_some_and(Value::is_null) {
        follow(c, &report).await?
    } else {
        report
    };
    Ok(print_outcome(&report))
}

pub(super) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn print_started(r: &Value) {
    let sha = text(r, "sha256");
    let signer = r
        .get("signer")
        .and_then(Value::as_str)
        .map_or("unsigned".to_string(), |k| format!("signed by {k}"));
    println!(
        "deploy {}: {} {} (sha256 {}, {signer})",
        text(r, "id"),
        text(r, "name"),
        shown_version(r),
        sha.get(..12).unwrap_or(sha)
    );
    for note in r
        .get("notes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("note: {}", note.as_str().unwrap_or_default());
    }
    if text(r, "state") == "canary" {
        let threads: Vec<String> = r
            .get("canary_threads")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| t.to_string())
            .collect();
        println!(
            "canary: script thread(s) {} of {} run it; watching",
            threads.join(", "),
            r.get("threads").and_then(Value::as_u64).unwrap_or(0)
        );
    }
}

fn shown_version(r: &Value) -> String {
    match text(r, "version") {
        "" => "(the version the host started with)".into(),
        v => v.to_string(),
    }
}

/// How often the canary's progress is asked for, and printed.
const POLL: Duration = Duration::from_millis(500);
const SAY_EVERY: Duration = Duration::from_secs(5);
/// Failed polls in a row before giving up (the host stopped?).
const POLL_FAILURES: u32 = 10;

/// Polls `GET /deploys` until the deploy has an outcome.
async fn follow(c: &Client, started: &Value) -> Result<Value, String> {
    let id = text(started, "id").to_string();
    let begun = std::time::Instant::now();
    let mut said = begun;
    let mut failures = 0;
    loop {
        tokio::time::sleep(POLL).await;
        let record = match c.send(c.http.get(c.url("/deploys"))).await {
            Ok((_, list)) => list
                .get("deploys")
                .and_then(Value::as_array)
                .and_then(|all| all.iter().find(|r| text(r, "id") == id).cloned()),
            Err(why) => {
                failures += 1;
                if failures >= POLL_FAILURES {
                    return Err(format!("lost the service while the deploy ran: {why}"));
                }
                continue;
            }
        };
        failures = 0;
        match record {
            Some(r) if !r.get("outcome").is_some_and(Value::is_null) => return Ok(r),
            Some(_) => {}
            None => return Err(format!("deploy {id} is not in the host's history any more")),
        }
        if said.elapsed() >= SAY_EVERY {
            said = std::time::Instant::now();
            println!("canary: {}s, still watching", begun.elapsed().as_secs());
        }
    }
}

/// The last line, and the exit code.
fn print_outcome(r: &Value) -> u8 {
    let outcome = text(r, "outcome");
    let reason = text(r, "reason");
    match outcome {
        "promoted" => {
            let took = match (
                r.get("started_ms").and_then(Value::as_u64),
                r.get("finished_ms").and_then(Value::as_u64),
            ) {
                (Some(a), Some(b)) => {
                    format!(" ({} ms after the host got it)", b.saturating_sub(a))
                }
                _ => String::new(),
            };
            println!(
                "promoted: every script thread runs {}{took}",
                shown_version(r)
            );
            0
        }
        other => {
            println!("{}: {reason}", other.replace('_', " "));
            if let Some(veto) = r.get("veto").filter(|v| !v.is_null()) {
                eprintln!("vetoed by {}:\n{}", text(veto, "at"), text(veto, "error"));
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_shares_parse_as_an_operator_writes_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_pct("10%"), Ok(10));
        assert_eq!(parse_pct("25"), Ok(25));
        assert!(parse_pct("0").is_err() && parse_pct("101%").is_err());
    }
}
