//! `moobius-host dev`: the sandbox, the host and simulated members in one
//! process, printing what each member sees whenever it changes. This is the
//! tutorial's "several browser windows" replaced by one terminal.

use clap::Args;
use moobius_host::config::{Config, LogConfig, ServiceSettings};
use moobius_host::host::{Host, HostOptions, ScriptStatus, ServicePaths};
use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::watch;

/// Run a service against a local sandbox with simulated members.
///
/// Starts the sandbox, creates a channel and the members, runs DIR's
/// scripts/service.rhai bound to that channel, lets the members join one
/// after the other and prints each member's character list, buttons, canvas
/// and messages every time they change ("alice sees: alice, Meow, bob",
/// "alice has no buttons"). DIR/config/config.json's
/// http_allow, script_limits and script_threads apply as under `run` (no
/// account needed; stores are in memory). The printed dev page URL shows
/// every member's view side by side in a browser. Keeps running, so other
/// clients can join through the printed URLs, until Ctrl+C. Saving a script reloads
/// it in place and says so (or prints the compile error).
#[derive(Args, Debug)]
pub struct DevArgs {
    /// The service directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The entry script [default: DIR/scripts/service.rhai], e.g. scripts/examples/meow.rhai.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Simulated members, comma-separated, joining in this order ("" for
    /// none: add them on the dev page).
    #[arg(long, value_delimiter = ',', default_value = "alice,bob,carol")]
    pub members: Vec<String>,
    /// Address of the sandbox; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Terminal log level (TRACE, DEBUG, INFO, WARNING, ERROR).
    #[arg(long, default_value = "WARNING")]
    pub log_level: String,
    /// Do not reload when files under the scripts directory change.
    #[arg(long)]
    pub no_watch: bool,
}

pub async fn main(args: DevArgs) -> u8 {
    let log = LogConfig {
        terminal_log_level: args.log_level.clone(),
        ..LogConfig::default()
    };
    // Reloads are printed below in a friendlier form than the log lines.
    let _ = moobius_host::logging::init_with(&log, &["moobius_host::host::reload=off"]);
    let mut paths = ServicePaths::in_dir(&args.dir);
    if let Some(script) = &args.script {
        paths.script = script.clone();
    }
    if !paths.script.is_file() {
        eprintln!(
            "error: {}: no such script (run dev in a service directory or pass --dir)",
            paths.script.display()
        );
        return 2;
    }
    // The service's config as `run` applies it (stores aside: in memory).
    let settings = match ServiceSettings::load(&args.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let sandbox = match Sandbox::start(SandboxOptions {
        listen: args.listen,
        tls: false,
        ..SandboxOptions::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return 1;
        }
    };
    let code = serve(&sandbox, &args, paths, &settings).await;
    let _ = tokio::time::timeout(
        moobius_host::timeouts::SANDBOX_STOP_GRACE,
        sandbox.shutdown(),
    )
    .await;
    code
}

async fn serve(
    sandbox: &Sandbox,
    args: &DevArgs,
    paths: ServicePaths,
    settings: &ServiceSettings,
) -> u8 {
    let control = sandbox.control();
    let channel_id = control.create_channel("lobby");
    let members: Vec<String> = args
        .members
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    for m in &members {
        control.create_user(m);
    }
    let (printed_tx, printed_rx) = watch::channel(HashSet::new());
    let printer = tokio::spawn(print_views(control.clone(), printed_tx));

    let mut config = Config::local(
        &sandbox.http_url(),
        &sandbox.ws_url(),
        vec![channel_id.clone()],
        "dev@sandbox.local",
    );
    settings.apply(&mut config, None);
    // What the host keeps on disk (the agent records) lives as long as
    // this sandbox, never in the service directory.
    let data = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot make a temporary data directory: {e}");
            return 1;
        }
    };
    config.db_config.data_dir = data.path().to_path_buf();
    let mut stop = super::shutdown_on_signal();
    let (status_tx, status_rx) = watch::channel(ScriptStatus::default());
    let status_forwarder = tokio::spawn(forward_status(status_rx.clone(), control.clone()));
    let status_printer = tokio::spawn(print_status(status_rx));
    let options = HostOptions {
        watch: !args.no_watch,
        reload_on_sighup: false,
        status: Some(status_tx),
        ..HostOptions::default()
    };
    let mut host = Host::start(config, paths, options);
    let probe = host.probe();
    control.set_spell_hook(moobius_host::sandbox::SpellHook::new(move |value| {
        let probe = probe.clone();
        Box::pin(async move {
            probe
                .spell(value, moobius_host::timeouts::SPELL_BOUND)
                .await
                .map_err(|e| e.to_string())
        })
    }));

    let started = tokio::select! {
        s = host.started() => match s {
            Ok(started) => started,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code() as u8;
            }
        },
        _ = stop.wait_for(|s| *s) => None,
    };
    if started.is_some() {
        println!(
            "sandbox: {}  (WebSocket {})",
            sandbox.http_url(),
            sandbox.ws_url()
        );
        println!("dev page: {}", sandbox.http_url());
        println!("channel lobby: {channel_id}");
        // Create the user, then join: both steps, so that it works as printed.
        let url = sandbox.http_url();
        let json = "-H 'content-type: application/json'";
        println!(
            "add a member:  curl -s -X POST {url}sandbox/users {json} -d '{{\"name\":\"dave\"}}' && curl -s -X POST {url}sandbox/act {json} -d '{{\"user\":\"dave\",\"channel_id\":\"{channel_id}\",\"action\":\"join\"}}'"
        );
        println!("Ctrl+C stops.");
        println!();
        // The host is started once its login is written; members join once
        // the sandbox has read it, or their joins would reach no service.
        let bound = moobius_host::timeouts::DEV_JOIN_SETTLE;
        if !control
            .wait_service_connected(&channel_id, true, bound)
            .await
        {
            eprintln!("warning: the service did not connect to the sandbox within {bound:?}");
        }
        for m in &members {
            join_and_settle(&control, m, &channel_id, printed_rx.clone()).await;
        }
    }
    let _ = stop.wait_for(|s| *s).await;
    printer.abort();
    status_printer.abort();
    status_forwarder.abort();
    match host.shutdown(moobius_host::timeouts::HOST_STOP_GRACE).await {
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code() as u8
        }
        Ok(()) => 0,
    }
}

/// Joins `member`, then waits (bounded) until their first view was printed,
/// so that the next member's join cannot overtake it on screen.
async fn join_and_settle(
    control: &SandboxControl,
    member: &str,
    channel_id: &str,
    mut printed: watch::Receiver<HashSet<String>>,
) {
    if let Err(e) = control.act(member, channel_id, "join").await {
        eprintln!("warning: {member} could not join: {e}");
        return;
    }
    let _ = tokio::time::timeout(
        moobius_host::timeouts::DEV_JOIN_SETTLE,
        printed.wait_for(|names| names.contains(member)),
    )
    .await;
}

/// What was last printed for one member in one channel.
#[derive(Default)]
struct Printed {
    characters: Option<String>,
    buttons: Option<String>,
    canvas: Option<String>,
    messages: usize,
}

/// Prints each member's view whenever it changes; `printed` collects the
/// names whose character list has been shown.
async fn print_views(control: SandboxControl, printed_names: watch::Sender<HashSet<String>>) {
    let mut events = control.subscribe();
    let mut printed: HashMap<(String, String), Printed> = HashMap::new();
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let Ok(view) = control.view(&ev.user_id, &ev.channel_id) else {
            continue;
        };
        let seen = printed
            .entry((ev.user_id.clone(), ev.channel_id.clone()))
            .or_default();
        let who = &ev.user_name;
        let characters = view
            .characters
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if seen.characters.as_ref() != Some(&characters) {
            println!("{who} sees: {characters}");
            printed_names.send_modify(|names| {
                names.insert(who.clone());
            });
            seen.characters = Some(characters);
        }
        if let Some(line) = changed_line(&mut seen.buttons, buttons_line(&view.buttons)) {
            println!("{who} {line}");
        }
        if let Some(line) = changed_line(&mut seen.canvas, canvas_line(&view.canvas)) {
            println!("{who}'s {line}");
        }
        for m in view.messages.iter().skip(seen.messages) {
            let body = match m.content["text"].as_str() {
                Some(text) if m.subtype == "text" => text.to_string(),
                _ => format!(
                    "[{}] {}",
                    m.subtype,
                    m.content["path"]
                        .as_str()
                        .or(m.content["link"].as_str())
                        .unwrap_or("")
                ),
            };
            let from = if m.sender_name.is_empty() {
                &m.sender
            } else {
                &m.sender_name
            };
            println!("{who} got from {from}: {body}");
        }
        seen.messages = view.messages.len();
    }
}

/// `now` if it differs from what was last printed (`shown`), which it
/// becomes. An empty widget is printed only once it had something: a member
/// who never got buttons is not told they have none, one whose buttons were
/// cleared is.
fn changed_line(shown: &mut Option<String>, now: (String, bool)) -> Option<String> {
    let (line, empty) = now;
    if shown.as_ref() == Some(&line) || (empty && shown.is_none()) {
        return None;
    }
    *shown = Some(line.clone());
    Some(line)
}

/// "has buttons: Yes | No" or "has no buttons", and whether there are none.
fn buttons_line(buttons: &[serde_json::Value]) -> (String, bool) {
    let texts: Vec<&str> = buttons
        .iter()
        .filter_map(|b| b["button_text"].as_str().or(b["button_id"].as_str()))
        .collect();
    if texts.is_empty() {
        return ("has no buttons".to_string(), true);
    }
    (format!("has buttons: {}", texts.join(" | ")), false)
}

/// "canvas: Welcome / line two | [image] URL" (a text's line breaks as " / ",
/// so that it stays one line) or "canvas is empty", and whether it is.
fn canvas_line(canvas: &[serde_json::Value]) -> (String, bool) {
    let items: Vec<String> = canvas
        .iter()
        .map(|item| {
            let text = item["text"]
                .as_str()
                .unwrap_or("")
                .lines()
                .collect::<Vec<_>>();
            match item["path"].as_str().filter(|p| !p.is_empty()) {
                Some(path) if text.is_empty() => format!("[image] {path}"),
                Some(path) => format!("{} [image] {path}", text.join(" / ")),
                None => text.join(" / "),
            }
        })
        .collect();
    if items.is_empty() {
        return ("canvas is empty".to_string(), true);
    }
    (format!("canvas: {}", items.join(" | ")), false)
}

/// Hands every script status to the sandbox, whose dev page shows it.
async fn forward_status(mut status: watch::Receiver<ScriptStatus>, control: SandboxControl) {
    loop {
        let now = status.borrow_and_update().clone();
        match serde_json::to_value(&now) {
            Ok(value) => control.set_script_status(value),
            Err(e) => tracing::warn!(%e, "cannot publish the script status"),
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Prints reloads and reload errors as they happen.
async fn print_status(mut status: watch::Receiver<ScriptStatus>) {
    let mut last = status.borrow().clone();
    while status.changed().await.is_ok() {
        let now = status.borrow_and_update().clone();
        if now.version > last.version && last.version > 0 {
            println!(
                "reloaded {} (version {}, {} ms)",
                now.files.join(", "),
                now.version,
                now.last_reload_ms.unwrap_or(0)
            );
        }
        if now.error != last.error {
            match &now.error {
                Some(e) => println!("reload failed, still running version {}: {e}", now.version),
                None if now.version == last.version => {
                    println!(
                        "scripts compile again; still running version {} (same code)",
                        now.version
                    )
                }
                None => {}
            }
        }
        last = now;
    }
}
