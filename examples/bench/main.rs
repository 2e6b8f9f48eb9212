//! The benchmark: the tutorial's service on this host and on the Python SDK,
//! side by side, against the same sandbox in the same run.
//!
//! `cargo build --release && cargo run --release --example bench -- [--quick] [--out bench/RESULTS.md]`
//!
//! Workloads (bench/RESULTS.md): W1 refresh storm, W2 join wave,
//! W3 fan-out, W4 many channels. Each runs against a fresh service process;
//! latency is measured from the action sent to the view arrived, sandbox-side.

mod arrivals;
mod guard;
mod procs;
mod pyenv;
#[path = "../support/redis_server.rs"]
mod redis_server;
mod report;
mod workloads;

use anyhow::{Context, Result};
use arrivals::Arrivals;
use clap::Parser;
use moobius_host::sandbox::{Sandbox, SandboxOptions};
use procs::{Launch, Target};
use std::path::PathBuf;
use workloads::{Bench, Figures, Sizes};

/// Measure moobius-host against the Python SDK on the tutorial's service.
#[derive(Parser)]
struct Args {
    /// Small sizes and short caps (CI: under a minute).
    #[arg(long)]
    quick: bool,
    /// The Python with moobius 1.8.0 [default: MOOBIUS_TEST_PYTHON, then target/py-venv-moobius-1.8.0].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Only the host.
    #[arg(long)]
    no_python: bool,
    /// Also write the report as Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds each workload may take per target [default: 120, quick: 20].
    #[arg(long)]
    cap: Option<u64>,
    /// Workloads to run, e.g. W1,W3 [default: all].
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The host's `script_threads` (service_config).
    #[arg(long, default_value_t = 1)]
    script_threads: usize,
    /// Compare W1's host / Python ratios with this baseline (bench/guard.json)
    /// and fail past its margin (see examples/bench/guard.rs); W1 then runs
    /// at least 4,000 refreshes (20,000 in a release build).
    #[arg(long, value_name = "FILE")]
    guard: Option<PathBuf>,
    /// Run the host as a cluster of N processes (see docs/CLUSTER.md).
    #[arg(long, value_name = "N")]
    cluster: Option<usize>,
    /// The cluster's Redis [default: a redis-server started here].
    #[arg(long, value_name = "URL", requires = "cluster")]
    redis: Option<String>,
}

type Run = fn(
    &'static Bench<'static>,
    Target,
    &'static Arrivals,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Figures>>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    moobius_host::platform::ensure_crypto_provider();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = if args.no_python {
        None
    } else {
        pyenv::find(args.python.clone(), &repo)
    };
    if python.is_none() && !args.no_python {
        eprintln!("note: no Python with moobius 1.8.0 found; measuring the host only");
    }
    let sandbox = Sandbox::start(SandboxOptions {
        tls: python.is_some(),
        ..SandboxOptions::default()
    })
    .await?;
    let info = sandbox.ready_info();
    let _trust = match (&python, &info.ca_pem) {
        (Some(py), Some(ca)) => {
            Some(pyenv::TrustedCa::install(py, ca).context("trusting the sandbox's CA")?)
        }
        _ => None,
    };
    let (arr, _task) = Arrivals::start(&sandbox.control());
    let redis_server = match (&args.cluster, &args.redis) {
        (Some(_), None) => Some(
            redis_server::RedisServer::start()
                .context("or give the cluster's Redis: --redis URL")?,
        ),
        _ => None,
    };
    let cluster = args.cluster.map(|nodes| procs::ClusterLaunch {
        url: args
            .redis
            .clone()
            .or_else(|| redis_server.as_ref().map(|r| r.url.clone()))
            .unwrap_or_default(),
        nodes,
    });
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if args.guard.is_some() {
        sizes.w1_refreshes = sizes.w1_refreshes.max(guard::REFRESHES);
    }
    let (http, ws) = (sandbox.http_url(), sandbox.ws_url());
    // Leaked on purpose: the benchmark ends with the process.
    let http: &'static str = Box::leak(http.into_boxed_str());
    let ws: &'static str = Box::leak(ws.into_boxed_str());
    let wss: Option<&'static str> = info.wss.clone().map(|w| &*Box::leak(w.into_boxed_str()));
    let repo: &'static PathBuf = Box::leak(Box::new(repo));
    let python_path: Option<&'static PathBuf> = python.map(|p| &*Box::leak(Box::new(p)));
    let bench: &'static Bench<'static> = Box::leak(Box::new(Bench {
        control: sandbox.control(),
        launch: Launch {
            repo,
            http,
            ws,
            wss,
            python: python_path.map(|p| p.as_path()),
            script_threads: args.script_threads,
            cluster,
            wrapper: &[],
        },
        sizes,
    }));
    let arr: &'static Arrivals = Box::leak(Box::new(arr));

    let rows = run_workloads(bench, arr, &args.only, python_path.is_some()).await;
    if arr.lagged() > 0 {
        eprintln!(
            "warning: {} view events were missed by the recorder; figures undercount",
            arr.lagged()
        );
    }
    let text = report::markdown(&rows, &sizes, args.quick);
    println!("{text}");
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &text)?;
    }
    sandbox.shutdown().await;
    drop(redis_server);
    match &args.guard {
        Some(file) => guard::check(&rows, file),
        None => Ok(()),
    }
}

/// Runs the chosen workloads (all when `only` is empty), each on the host and
/// then on the SDK; a failed run leaves its cell empty.
async fn run_workloads(
    bench: &'static Bench<'static>,
    arr: &'static Arrivals,
    only: &[String],
    with_python: bool,
) -> Vec<report::Row> {
    let workloads: [(&str, &str, Run); 4] = [
        ("W1", "refresh storm", |b, t, a| Box::pin(b.w1(t, a))),
        ("W2", "join wave", |b, t, a| Box::pin(b.w2(t, a))),
        ("W3", "fan-out", |b, t, a| Box::pin(b.w3(t, a))),
        ("W4", "many channels", |b, t, a| Box::pin(b.w4(t, a))),
    ];
    let mut rows = Vec::new();
    for (id, name, run) in workloads {
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            continue;
        }
        let mut results = Vec::new();
        for target in [Target::Host, Target::Python] {
            if target == Target::Python && !with_python {
                results.push(None);
                continue;
            }
            eprintln!("{id} {name}: {} ...", target.label());
            match run(bench, target, arr).await {
                Ok(f) => {
                    eprintln!(
                        "  {} {:.0} {}, p50 {:.2} ms, p99 {:.2} ms ({})",
                        target.label(),
                        f.rate,
                        f.rate_unit,
                        f.p50_ms,
                        f.p99_ms,
                        f.done
                    );
                    results.push(Some(f));
                }
                Err(e) => {
                    eprintln!("  {} failed: {e:#}", target.label());
                    results.push(None);
                }
            }
        }
        rows.push(report::Row {
            id,
            name,
            host: results[0].clone(),
            python: results.get(1).cloned().flatten(),
        });
    }
    rows
}
