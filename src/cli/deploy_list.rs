//! `deploy list` for a lone host: the deploys its admin endpoint keeps
//! (`GET /deploys`), as a table or JSON. A cluster's list is read from Redis
//! (`deploy_cluster.rs`).

use super::deploy::{client, text, Target};
use serde_json::Value;
use std::path::Path;

pub(super) async fn list(target: &Target, json: bool) -> Result<u8, String> {
    let c = client(target).await?;
    let (status, body) = c.send(c.http.get(c.url("/deploys"))).await?;
    if let Some(err) = body.get("error").and_then(Value::as_str) {
        eprintln!("error: {err}");
        return Ok(if status == 400 { 2 } else { 1 });
    }
    let deploys = body
        .get("deploys")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let text = if json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&deploys).unwrap_or_default()
        )
    } else {
        table(
            deploys.as_array().map_or(&[][..], Vec::as_slice),
            &target.dir,
        )
    };
    // A reader that stops early (`| head`) is not an error.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(0)
}

/// `deploy list`'s table, newest first.
fn table(rows: &[Value], dir: &Path) -> String {
    if rows.is_empty() {
        return format!("no deploys yet on {}\n", shown_dir(dir));
    }
    let mut out = format!(
        "{:<28} {:<8} {:<12} {:<12} {:<16} {:<19} OUTCOME\n",
        "ID", "KIND", "VERSION", "SHA256", "SIGNER", "WHEN (UTC)"
    );
    for r in rows {
        let sha = text(r, "sha256");
        let when = r
            .get("started_ms")
            .and_then(Value::as_u64)
            .map_or(String::new(), shown_time);
        let outcome = match text(r, "outcome") {
            "" => "in progress".to_string(),
            o => o.to_string(),
        };
        let why = match text(r, "reason") {
            "" => String::new(),
            w => format!(": {}", w.lines().next().unwrap_or(w)),
        };
        let (version, signer) = match (text(r, "version"), sha.is_empty()) {
            (_, true) => ("(start)", "-"),
            (v, false) => (
                v,
                r.get("signer")
                    .and_then(Value::as_str)
                    .unwrap_or("unsigned"),
            ),
        };
        out.push_str(&format!(
            "{:<28} {:<8} {:<12} {:<12} {:<16} {:<19} {outcome}{why}\n",
            text(r, "id"),
            text(r, "kind"),
            version,
            sha.get(..12).unwrap_or(sha),
            signer,
            when,
        ));
    }
    out
}

fn shown_dir(dir: &Path) -> String {
    dir.display().to_string()
}

/// `2026-12-06 12:15:03`.
fn shown_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = moobius_host::clock::civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600,
        (t / 60) % 60,
        t % 60
    )
}
