//! `moobius-host spell`: send a value to a running service's `on_spell`.

use clap::Args;
use moobius_host::admin::token::{TOKEN_ENV, TOKEN_FILE, URL_FILE};
use std::path::PathBuf;

/// Send a value to a running service: the host calls `on_spell(value)`
/// between two events and this prints what the handler returned.
///
/// The counterpart of the Python SDK's `MoobiusWand.spell`, through the
/// admin endpoint of `moobius-host run --admin ADDR`: the endpoint's URL and
/// token are read from DIR/data/admin.url and DIR/data/admin.token (or
/// MOOBIUS_ADMIN_TOKEN). Any HTTP client can do the same:
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
    /// The admin endpoint [default: the URL in DIR/data/admin.url].
    #[arg(long)]
    pub url: Option<String>,
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

async fn run(args: &SpellArgs) -> Result<u8, String> {
    let text = match (&args.value, &args.file) {
        (Some(v), _) => v.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?
        }
        (None, None) => return Err("give a value or --file".into()),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the value is not JSON: {e}"))?;
    let read = |name: &str| {
        let path = args.dir.join(name);
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| {
                format!(
                    "cannot read {} ({e}); is the service running with --admin?",
                    path.display()
                )
            })
    };
    let url = match &args.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => read(URL_FILE)?,
    };
    let token = match std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(t) => t,
        None => read(TOKEN_FILE)?,
    };
    moobius_host::platform::ensure_crypto_provider();
    let response = reqwest::Client::new()
        .post(format!("{url}/spell"))
        .bearer_auth(token)
        .json(&value)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {}", e.without_url()))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} without JSON: {}", e.without_url()))?;
    match (answer.get("ok"), answer.get("error")) {
        (Some(ok), _) => {
            println!("{ok}");
            Ok(0)
        }
        (None, Some(err)) => {
            eprintln!("error: {}", err.as_str().unwrap_or(&err.to_string()));
            Ok(1)
        }
        (None, None) => Err(format!("{url} answered {status}: {answer}")),
    }
}
