//! `moobius-host spell`: send a value to a running service's `on_spell`.
//!
//! Several processes may serve one directory (the nodes of a cluster);
//! each publishes its own endpoint (`admin::files`). Without `--url` the
//! spell goes to the most recently started one that can be connected to,
//! and says which when there was a choice: only a failed connection moves
//! on to the next, since a spell cut off once sent may have run there.
//! `--all` sends it to each; `--url` picks one, and only its own token (or
//! `MOOBIUS_ADMIN_TOKEN`) is sent: another process's is not sent elsewhere.

use clap::Args;
use moobius_host::admin::files::{self, Endpoint};
use moobius_host::admin::token::TOKEN_ENV;
use std::path::PathBuf;

/// Send a value to a running service: the host calls `on_spell(value)`
/// between two events and this prints what the handler returned.
///
/// The counterpart of the Python SDK's `MoobiusWand.spell`, through the
/// admin endpoint of `moobius-host run --admin ADDR`: each running process
/// writes its endpoint's URL and token to DIR/data/admin/PORT.url and
/// DIR/data/admin/PORT.token (the last started also to DIR/data/admin.url
/// and DIR/data/admin.token; MOOBIUS_ADMIN_TOKEN overrides the token).
/// With several (the nodes of a cluster sharing DIR), the spell goes to
/// the newest that can be connected to, or to each with --all. Any HTTP client can do
/// the same:
/// `curl -H "Authorization: Bearer $(cat data/admin.token)" --data '{"say":"hi"}' $(cat data/admin.url)/spell`.
///
/// Exit code 0: the handler returned (its value is printed as JSON); 1: it
/// failed or the service did not answer; 2: bad input or no endpoint.
#[derive(Args, Debug)]
pub struct SpellArgs {
    /// The value, as JSON (`'"hello"'`, `'{"kick": "bob"}'`).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub value: Option<String>,
    /// Read the value from this JSON file instead.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The running service's directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The admin endpoint [default: the newest running one of DIR that can
    /// be connected to]; its token is its published one or MOOBIUS_ADMIN_TOKEN.
    #[arg(long, conflicts_with = "all")]
    pub url: Option<String>,
    /// Send the spell to every running process of DIR (each answer is
    /// printed after its URL).
    #[arg(long)]
    pub all: bool,
}
pub async fn main(args: SpellArgs) -> u8 {
    match run(&args).await {
        Ok(code) => code,
        Err(why) => {
            eprintln!("error: {why}");
            2
        }
    }
}

async fn run(args: &SpellArgs) -> Result<u8, moobius_host::Reason> {
    let text = match (&args.value, &args.file) {
        (Some(v), _) => v.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?
        }
        (None, None) => return Err("give a value or --file".into()),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the value is not JSON: {e}"))?;
    let targets = targets(&args.dir, args.url.as_deref())?;
    moobius_host::platform::ensure_crypto_provider();
    let client = reqwest::Client::new();
    if args.all {
        let mut code = 0;
        for target in &targets {
            let answer = send(&client, target, &value).await;
            code = code.max(report(answer, Some(&target.url)));
        }
        return Ok(code);
    }
    let mut unreachable = Vec::new();
    for target in &targets {
        match send(&client, target, &value).await {
            Err(Failure::Unreachable(why)) => unreachable.push(why),
            answer => {
                if targets.len() > 1 {
                    eprintln!("answered by {}", target.url);
                }
                return Ok(report(answer, None));
            }
        }
    }
    // Every published endpoint refused the connection: files left by
    // processes that stopped without removing them (a kill), or a service
    // started without --admin since.
    Err(format!(
        "{}; no process serving {} answers (is the service running with --admin?)",
        unreachable.join("; "),
        args.dir.display()
    ))
}

/// Where a command for a running service goes (a spell, a deploy):
/// `url` (with its process's token when it is published), else every
/// published endpoint of `dir`, newest first. The token comes from
/// MOOBIUS_ADMIN_TOKEN when that is set.
pub(super) fn targets(
    dir: &std::path::Path,
    url: Option<&str>,
) -> Result<Vec<Endpoint>, moobius_host::Reason> {
    let published = files::endpoints(dir);
    let from_env = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| moobius_host::config::Secret::new(t.trim().to_string()));
    let mut targets = match url {
        Some(u) => {
            let url = u.trim_end_matches('/').to_string();
            let token = published
                .into_iter()
                .find(|e| e.url == url)
                .and_then(|e| e.token);
            if token.is_none() && from_env.is_none() {
                return Err(format!(
                    "no token is known for {url}: it is not published under {}; set {TOKEN_ENV}",
                    dir.join(files::ENDPOINTS_DIR).display()
                ));
            }
            vec![Endpoint { url, token }]
        }
        None => published,
    };
    if targets.is_empty() {
        return Err(format!(
            "no admin endpoint under {} ({}/*.url); is the service running with --admin?",
            dir.display(),
            files::ENDPOINTS_DIR
        ));
    }
    if let Some(t) = from_env {
        for target in &mut targets {
            target.token = Some(t.clone());
        }
    }
    Ok(targets)
}

/// Why a spell got no value back.
enum Failure {
    /// Nothing could be connected to at the URL (a stopped process, say):
    /// the spell was not sent.
    Unreachable(String),
    /// The spell was sent: the service answered with an error or something
    /// unexpected, or the exchange broke off (it may have run).
    Answered(String),
}

/// The handler's value, or why there is none.
async fn send(
    client: &reqwest::Client,
    target: &Endpoint,
    value: &serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let url = &target.url;
    let token = target
        .token
        .as_ref()
        .ok_or_else(|| Failure::Answered(format!("no token for {url}; set {TOKEN_ENV}")))?;
    let response = client
        .post(format!("{url}/spell"))
        .bearer_auth(token.expose())
        .json(value)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                Failure::Unreachable(format!("cannot reach {url}: {}", e.without_url()))
            } else {
                let e = e.without_url();
                Failure::Answered(format!(
                    "no answer from {url} (the spell may have run): {e}"
                ))
            }
        })?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.map_err(|e| {
        Failure::Answered(format!(
            "{url} answered {status} without JSON: {}",
            e.without_url()
        ))
    })?;
    match (answer.get("ok"), answer.get("error")) {
        (Some(ok), _) => Ok(ok.clone()),
        (None, Some(err)) => Err(Failure::Answered(
            err.as_str().map_or_else(|| err.to_string(), str::to_string),
        )),
        (None, None) => Err(Failure::Answered(format!(
            "{url} answered {status}: {answer}"
        ))),
    }
}

/// Prints one answer (after `label`, when given); its exit code.
fn report(answer: Result<serde_json::Value, Failure>, label: Option<&str>) -> u8 {
    let prefix = label.map(|l| format!("{l}: ")).unwrap_or_default();
    match answer {
        Ok(value) => {
            println!("{prefix}{value}");
            0
        }
        Err(Failure::Unreachable(why) | Failure::Answered(why)) => {
            eprintln!("error: {prefix}{why}");
            1
        }
    }
}
