//! `moobius-host cluster status`: a cluster as its Redis sees it.

use clap::{Args, Subcommand};
use moobius_host::cluster::report::{self, Report};
use moobius_host::config::{self, load::Overrides};
use std::path::PathBuf;

/// Look at a service's cluster (see docs/CLUSTER.md).
#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Print the live nodes, the gateway, and each partition's owner,
    /// lease token, lag (events not read yet), pending events (read, not
    /// yet handled) and takeovers, each node's deployed version and the
    /// deploy in progress (a canary's nodes), then the frames and relayed
    /// platform calls waiting for the gateway, as the cluster's Redis has
    /// them. Reads
    /// DIR's config for the service id and the cluster settings; needs no
    /// node on this machine, and no account (it never signs in). Exit code 0: a gateway and an owner for
    /// every partition; 1: not (or Redis unreachable); 2: config problem.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The service directory (its config names the service and the cluster).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The config file [default: DIR/config/config.json].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The cluster's Redis [default: the config's cluster.redis_url]. With
    /// a password, give it in MOOBIUS_CLUSTER_URL rather than on the
    /// command line.
    #[arg(long, value_name = "URL", env = moobius_host::config::cluster::URL_ENV, hide_env_values = true)]
    pub cluster: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: ClusterArgs) -> u8 {
    match args.command {
        ClusterCommand::Status(a) => status(&a),
    }
}

fn status(args: &StatusArgs) -> u8 {
    let file = args
        .config
        .clone()
        .unwrap_or_else(|| args.dir.join("config").join("config.json"));
    // It reads Redis only: no account needed.
    let cfg = match config::load(&file, &args.dir, &Overrides::no_account()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut cluster = match (cfg.cluster, &args.cluster) {
        (Some(c), _) => c,
        (None, Some(url)) => config::ClusterConfig::with_url(url),
        (None, None) => {
            eprintln!(
                "error: {}: no `cluster` section; give --cluster URL",
                file.display()
            );
            return 2;
        }
    };
    if let Some(url) = &args.cluster {
        cluster.redis_url = config::Secret::new(url.clone());
        if let Some(warning) = super::credentials_on_command_line(url) {
            eprintln!("warning: {warning}");
        }
    }
    let Some(service_id) = cfg.service.service_id else {
        eprintln!(
            "error: {}: service_config.service_id is not set",
            file.display()
        );
        return 2;
    };
    let report = match report::read(cluster.redis_url.expose(), &service_id, cluster.partitions) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report, &service_id, &cluster));
    }
    u8::from(report.gateway.is_none() || report.unowned() > 0)
}

/// The report as the terminal shows it.
fn render(r: &Report, service_id: &str, c: &config::ClusterConfig) -> String {
    let mut out = format!(
        "cluster of service {service_id} at {} ({} partitions, lease {} ms)\n",
        c.shown_url(),
        c.partitions,
        c.lease.as_millis()
    );
    out += &format!("nodes: {} live\n", r.nodes.len());
    for n in &r.nodes {
        let mut version = match n.deploy.as_str() {
            "" => "its own files".to_string(),
            d => format!("{} (deploy {d})", n.version),
        };
        if r.deploy
            .as_ref()
            .is_some_and(|d| d.canary_nodes.contains(&n.node))
        {
            version += ", a canary node";
        }
        out += &format!(
            "  {:<32} owns {:>3} partitions, last beat {} ms ago, runs {version}\n",
            n.node,
            r.owned_by(&n.node),
            n.last_beat_ms
        );
    }
    if let Some(d) = &r.deploy {
        let detail = match d.state.as_str() {
            "canary" => format!("on {}", d.canary_nodes.join(", ")),
            _ => d.detail.lines().next().unwrap_or("").to_string(),
        };
        out += &format!("deploy: {} ({}) {} {detail}\n", d.id, d.version, d.state);
    }
    out += &match &r.gateway {
        Some(g) => format!(
            "gateway: {} (token {}, lease {} ms left)\n",
            g.node, g.token, g.expires_in_ms
        ),
        None => "gateway: none (no node holds the platform connection)\n".into(),
    };
    out += "partition  owner                             token   lag  pending  takeovers\n";
    for p in &r.partitions {
        let (owner, token) = p
            .owner
            .as_ref()
            .map_or(("-".to_string(), "-".to_string()), |o| {
                (o.node.clone(), o.token.to_string())
            });
        out += &format!(
            "{:>9}  {:<32} {:>6} {:>5} {:>8} {:>10}\n",
            p.partition, owner, token, p.lag, p.pending, p.takeovers
        );
    }
    out += &format!(
        "down stream: {} frames not read by the gateway, {} not yet acknowledged by the platform\n",
        r.down_lag, r.down_pending
    );
    out += &format!(
        "relayed calls: {} waiting for the gateway\n",
        r.calls_waiting
    );
    out
}
