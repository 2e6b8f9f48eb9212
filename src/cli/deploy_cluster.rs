//! `moobius-host deploy` for a cluster (docs/DEPLOY.md, "A cluster"):
//! the bundle and the deploy go into the cluster's Redis, the nodes do
//! the rest (`cluster::deploy`, followed by every node). This process only
//! starts it and prints its progress: killing it does not stop the deploy.

use moobius_host::bundle::{self, BundleLimits};
use moobius_host::cluster::conn::RedisConn;
use moobius_host::cluster::deploy::active::Begun;
use moobius_host::cluster::deploy::machine::Deploys;
use moobius_host::cluster::deploy::record::{Record, State};
use moobius_host::cluster::wire::Keys;
use moobius_host::config::Config;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the nodes have to prepare and vote: a compile and a dry run
/// take seconds; a node silent this long is named in the veto.
const VOTE_WINDOW: Duration = Duration::from_secs(60);
/// How often the progress is read.
const POLL: Duration = Duration::from_millis(100);
/// The largest bundle stored in Redis: Redis keeps [`HISTORY`] of them in
/// memory; a real service's scripts and resources are far smaller.
///
/// [`HISTORY`]: moobius_host::cluster::deploy::HISTORY
const MAX_BUNDLE: usize = 16 << 20;

/// The cluster's deploys for `cfg` (its service id and `cluster` section).
pub fn open(cfg: &Config) -> Result<Deploys, String> {
    let cluster = cfg
        .cluster
        .as_ref()
        .ok_or("no `cluster` section; give --cluster URL")?;
    let id = cfg
        .service
        .service_id
        .as_deref()
        .ok_or("service_config.service_id is not set")?;
    let conn = RedisConn::open(
        cluster.redis_url.expose(),
        moobius_host::timeouts::REDIS_CALL,
    )
    .map_err(|e| e.to_string())?;
    Ok(Deploys::new(Arc::new(conn), Keys::new(id)))
}

/// Stores the bundle, starts the deploy and follows it to its end.
pub fn deploy(
    d: &Deploys,
    file: &Path,
    canary: Option<u32>,
    window: Duration,
) -> Result<u8, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if bytes.len() > MAX_BUNDLE {
        return Err(format!(
            "{} is larger than {MAX_BUNDLE} bytes",
            file.display()
        ));
    }
    let seen = bundle::inspect(file, &BundleLimits::default())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    d.store_bundle(&sha, &bytes).map_err(|e| e.to_string())?;
    let now = d.now_ms().map_err(|e| e.to_string())?;
    let record = Record {
        id: format!("{now}-{}", &sha[..8]),
        sha: sha.clone(),
        version: seen.manifest.version.clone(),
        signer: seen
            .signature
            .map_or(String::new(), |s| s.key_id.to_string()),
        by: whoami(),
        at_ms: now,
        deadline_ms: now + VOTE_WINDOW.as_millis() as u64,
        canary_pct: canary.unwrap_or(0),
        canary_window_ms: window.as_millis() as u64,
        state: State::Preparing,
    };
    match d.begin(&record).map_err(|e| e.to_string())? {
        Begun::Started => {}
        Begun::Busy(other) => {
            // Stored for nothing: no deploy will ever name it.
            d.drop_bundle_unless_kept(&sha).map_err(|e| e.to_string())?;
            eprintln!("error: deploy {other} is in progress; another waits until it ends");
            return Ok(1);
        }
        Begun::Exists => return Err(format!("deploy {} exists already", record.id)),
    }
    println!(
        "deploy {}: {} {} (sha256 {}) written to the cluster; the nodes prepare it",
        record.id,
        seen.manifest.name,
        record.version,
        &sha[..12]
    );
    follow(d, &record.id, Instant::now())
}

/// Prints the deploy's states until it ends and every live node runs the
/// outcome; the exit code.
fn follow(d: &Deploys, id: &str, began: Instant) -> Result<u8, String> {
    let mut last = String::new();
    loop {
        std::thread::sleep(POLL);
        let record = d
            .record(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("deploy {id} is gone from Redis"))?;
        let name = record.state.name().to_string();
        if name != last {
            println!("{:>6} ms  {name}", began.elapsed().as_millis());
            last = name;
        }
        match record.state {
            State::Committed => return everywhere(d, id, began),
            State::Vetoed { node, reason } => {
                println!("vetoed by node {node}: {reason}");
                return Ok(1);
            }
            State::RolledBack { why } => {
                println!("rolled back: {why}");
                return Ok(1);
            }
            _ => {}
        }
    }
}

/// Waits until every node that runs something runs deploy `id`.
fn everywhere(d: &Deploys, id: &str, began: Instant) -> Result<u8, String> {
    let until = Instant::now() + VOTE_WINDOW;
    while Instant::now() < until {
        let running = d.running().map_err(|e| e.to_string())?;
        if !running.is_empty() && running.values().all(|(r, _, _)| r == id) {
            let swaps = d.swaps(id).map_err(|e| e.to_string())?;
            let (first, last) = (swaps.values().min(), swaps.values().max());
            let spread = first.zip(last).map_or(0, |(a, b)| b - a);
            println!(
                "committed: {} node(s) run it, {} ms after the command (first to last swap {spread} ms)",
                running.len(),
                began.elapsed().as_millis()
            );
            return Ok(0);
        }
        std::thread::sleep(POLL);
    }
    println!("committed, but not every node reports it yet (see `cluster status`)");
    Ok(0)
}

/// `deploy --rollback`: ends a canary, or returns to the previous commit.
pub fn rollback(d: &Deploys) -> Result<u8, String> {
    if let Some(id) = d.active().map_err(|e| e.to_string())? {
        let record = d.record(&id).map_err(|e| e.to_string())?;
        match record.map(|r| r.state) {
            Some(s @ State::Canary { .. }) => {
                let why = State::RolledBack {
                    why: "rolled back by the operator (deploy --rollback) during the canary".into(),
                };
                d.advance(&id, &s, &why).map_err(|e| e.to_string())?;
                println!("deploy {id}: canary rolled back");
                return Ok(0);
            }
            Some(State::Preparing) => {
                eprintln!("error: deploy {id} is being prepared; roll back once it ends");
                return Ok(1);
            }
            _ => {}
        }
    }
    match d.rollback("rolled back by the operator (deploy --rollback)") {
        Ok(Some(cur)) => {
            println!("rolled back to deploy {} (epoch {})", cur.id, cur.epoch);
            everywhere(d, &cur.id, Instant::now())
        }
        Ok(None) => {
            eprintln!("error: nothing to roll back to (fewer than two committed deploys)");
            Ok(1)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `deploy list`: every deploy in the log, newest first.
pub fn list(d: &Deploys, json: bool) -> Result<u8, String> {
    let mut rows = Vec::new();
    for id in d.log().map_err(|e| e.to_string())? {
        if let Some(r) = d.record(&id).map_err(|e| e.to_string())? {
            rows.push(r);
        }
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"id": r.id, "version": r.version, "sha256": r.sha,
                "signer": r.signer, "by": r.by, "at_ms": r.at_ms,
                "state": r.state.name(), "detail": r.state.detail()})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no deploys yet in this cluster");
    }
    for r in rows {
        let signer = if r.signer.is_empty() {
            "unsigned"
        } else {
            &r.signer
        };
        println!(
            "{:<24} {:<12} {:<12} {:<16} {} {}",
            r.id,
            r.version,
            r.sha.get(..12).unwrap_or(&r.sha),
            signer,
            r.state.name(),
            r.state.detail().lines().next().unwrap_or("")
        );
    }
    Ok(0)
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}
