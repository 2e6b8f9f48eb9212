//! A fixed amount of work for the host process alone, so that a profiler
//! attached to it sees only that work: the tutorial's service in a `run`
//! process against an in-process sandbox, every member served first, then
//! a refresh storm (W1's shape) or joins into a full channel (W3's shape).
//!
//! With `--callgrind OUT`, the host runs under `valgrind --tool=callgrind`;
//! its counters are zeroed once every member has a view and dumped to OUT
//! once the work is done, so OUT holds the work and nothing of the start.
//! Without it, the host's CPU time for the work is printed (`/proc`).
//!
//! ```text
//! cargo build --release --bin moobius-host --example host_profile
//! ./target/release/examples/host_profile --refreshes 2000 --callgrind w1.cg
//! callgrind_annotate --inclusive=yes w1.cg | less
//! ./target/release/examples/host_profile --members 1000 --joins 3 --callgrind w3.cg
//! ```

#[path = "bench/arrivals.rs"]
#[allow(dead_code)]
mod arrivals;
#[path = "bench/procs.rs"]
#[allow(dead_code)]
mod procs;

use anyhow::{bail, Context, Result};
use arrivals::Arrivals;
use clap::Parser;
use moobius_host::sandbox::{Sandbox, SandboxControl, SandboxOptions};
use procs::{Launch, Target};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run the tutorial's service on a fixed workload, optionally under callgrind.
#[derive(Parser)]
struct Args {
    /// Members in the channel.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// Refreshes, round-robin over the members (at most 1,000 in flight).
    #[arg(long, default_value_t = 2000)]
    refreshes: usize,
    /// Instead of refreshes: this many join-and-leave rounds of one more
    /// user (each join re-sends every member's view).
    #[arg(long, default_value_t = 0)]
    joins: usize,
    /// Run the host under callgrind and write the work's profile here.
    #[arg(long, value_name = "OUT")]
    callgrind: Option<PathBuf>,
    /// Seconds any one wait may take.
    #[arg(long, default_value_t = 600)]
    cap: u64,
}

const WINDOW: usize = 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    moobius_host::platform::ensure_crypto_provider();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let control = sandbox.control();
    let (arr, _task) = Arrivals::start(&control);
    let cap = Duration::from_secs(args.cap);
    let ch = control.create_channel("profile");
    let users: Vec<String> = (0..args.members)
        .map(|i| control.create_user(&format!("p{i:05}")).user_id)
        .collect();
    for u in &users {
        control.act(u, &ch, "join").await?;
    }
    // A callgrind run writes its start-up to OUT.start (the zeroing dumps
    // nothing; the final dump goes to OUT).
    let wrapper: Vec<String> = match &args.callgrind {
        Some(out) => vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out.display()),
        ],
        None => Vec::new(),
    };
    let (http, ws) = (sandbox.http_url(), sandbox.ws_url());
    let launch = Launch {
        repo: &repo,
        http: &http,
        ws: &ws,
        wss: None,
        python: None,
        script_threads: 1,
        cluster: None,
        wrapper: &wrapper,
    };
    let svc = launch
        .start(Target::Host, std::slice::from_ref(&ch))
        .await?;
    let want: Vec<(String, usize)> = users.iter().map(|u| (u.clone(), 1)).collect();
    if !arr.wait_counts(&want, Instant::now() + cap).await {
        bail!("the host never served its members:\n{}", svc.log_tail(20));
    }
    // Let the start-up's stragglers (check-in views) land before zeroing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if args.callgrind.is_some() {
        callgrind_control("-z", svc.pid())?;
    }
    let cpu0 = svc.usage().cpu;
    let (work, views) = if args.joins > 0 {
        let views = joins(&control, &arr, &ch, &users, args.joins, cap).await?;
        (format!("{} joins", args.joins), views)
    } else {
        storm(&control, &arr, &ch, &users, args.refreshes, cap).await?;
        (format!("{} refreshes", args.refreshes), args.refreshes)
    };
    let cpu = svc.usage().cpu.saturating_sub(cpu0);
    if let Some(out) = &args.callgrind {
        callgrind_control("-d", svc.pid())?;
        println!("profile of {work} ({views} views) in {}", out.display());
    } else {
        println!(
            "{work}: host CPU {:.2} s, {:.1} us per view ({views} views)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / views as f64
        );
    }
    drop(svc);
    sandbox.shutdown().await;
    Ok(())
}

fn callgrind_control(flag: &str, pid: u32) -> Result<()> {
    let status = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .status()
        .context("running callgrind_control")?;
    if !status.success() {
        bail!("callgrind_control {flag} {pid}: {status}");
    }
    Ok(())
}

/// `n` refreshes round-robin over `users`, at most WINDOW unanswered.
async fn storm(
    control: &SandboxControl,
    arr: &Arrivals,
    ch: &str,
    users: &[String],
    n: usize,
    cap: Duration,
) -> Result<()> {
    let total0 = arr.total();
    for i in 0..n {
        if i >= WINDOW
            && !arr
                .wait_total(total0 + i - WINDOW, Instant::now() + cap)
                .await
        {
            bail!("refresh {i}: the window did not move within {cap:?}");
        }
        control.act(&users[i % users.len()], ch, "refresh").await?;
    }
    if !arr.wait_total(total0 + n, Instant::now() + cap).await {
        bail!("not every refresh was answered within {cap:?}");
    }
    Ok(())
}

/// `rounds` joins (and leaves) of one more user; the views of the joins.
async fn joins(
    control: &SandboxControl,
    arr: &Arrivals,
    ch: &str,
    users: &[String],
    rounds: usize,
    cap: Duration,
) -> Result<usize> {
    let extra = control.create_user("p-extra").user_id;
    let mut views = 0;
    for _ in 0..rounds {
        for (action, who) in [("join", users.len() + 1), ("leave", users.len())] {
            let total0 = arr.total();
            control.act(&extra, ch, action).await?;
            if !arr.wait_total(total0 + who, Instant::now() + cap).await {
                bail!("a {action} was not answered within {cap:?}");
            }
            views += who;
        }
    }
    Ok(views)
}
