//! The four workloads, run against one service process at a time.

use crate::arrivals::Arrivals;
use crate::procs::{Launch, Service, Target};
use anyhow::{bail, Result};
use moobius_host::sandbox::SandboxControl;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub w1_members: usize,
    pub w1_refreshes: usize,
    pub w2_members: usize,
    pub w3_members: usize,
    pub w3_rounds: usize,
    pub w4_channels: usize,
    pub w4_members: usize,
    pub w4_refreshes: usize,
    /// Per workload and target; a service still busy then is reported as such.
    pub cap: Duration,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            w1_members: 100,
            w1_refreshes: 10_000,
            w2_members: 1_000,
            w3_members: 1_000,
            w3_rounds: 5,
            w4_channels: 200,
            w4_members: 20,
            w4_refreshes: 10_000,
            cap: Duration::from_secs(120),
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            w1_members: 20,
            w1_refreshes: 400,
            w2_members: 30,
            w3_members: 100,
            w3_rounds: 3,
            w4_channels: 10,
            w4_members: 5,
            w4_refreshes: 400,
            cap: Duration::from_secs(20),
        }
    }
}

/// One workload's figures for one target.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Actions (W1, W4) or views (W2, W3) per second.
    pub rate: f64,
    pub rate_unit: &'static str,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: f64,
    pub cpu_s: f64,
    /// What was done, e.g. "10000 refreshes" or "reached 230 of 1000 members".
    pub done: String,
    /// Start-up: process start -> first view delivered (W1 only).
    pub startup_ms: Option<f64>,
    pub idle_rss_mib: Option<f64>,
    /// A cluster: every member had a view -> partitions spread and nothing
    /// waiting (the hand-over from the first node to the others).
    pub settle_ms: Option<f64>,
}

/// A service serving every member, measured from here on.
pub struct Started {
    pub svc: Service,
    /// Process start -> every member had a view.
    pub startup_ms: f64,
    pub settle_ms: Option<f64>,
}

pub struct Bench<'a> {
    pub control: SandboxControl,
    pub launch: Launch<'a>,
    pub sizes: Sizes,
}

/// Refreshes in flight at most during a storm.
const WINDOW: usize = 1000;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Bench<'_> {
    fn users(&self, prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| self.control.create_user(&format!("{prefix}{i:04}")).user_id)
            .collect()
    }

    async fn join_all(&self, users: &[String], ch: &str) -> Result<()> {
        for u in users {
            self.control.act(u, ch, "join").await?;
        }
        Ok(())
    }

    /// Starts the service and waits until every user of `users` has a view.
    async fn start(
        &self,
        target: Target,
        channels: &[String],
        users: &[String],
        arr: &Arrivals,
    ) -> Result<Started> {
        let t0 = Instant::now();
        let mut svc = self.launch.start(target, channels).await?;
        let want: Vec<(String, usize)> = users.iter().map(|u| (u.clone(), 1)).collect();
        if !arr
            .wait_counts(&want, Instant::now() + self.sizes.cap)
            .await
            || !svc.alive()
        {
            let missing = want.iter().filter(|(u, n)| arr.count(u) < *n).count();
            bail!(
                "the {} service never served its members ({missing} of {} without a view); its log ends:\n{}",
                target.label(),
                want.len(),
                svc.log_tail(20)
            );
        }
        let startup = t0.elapsed().as_secs_f64() * 1000.0;
        let settling = Instant::now();
        svc.settled().await?;
        let settle = svc
            .is_cluster()
            .then(|| settling.elapsed().as_secs_f64() * 1000.0);
        Ok(Started {
            svc,
            startup_ms: startup,
            settle_ms: settle,
        })
    }

    /// Refreshes spread round-robin over `users`; latency per refresh.
    async fn refresh_storm(
        &self,
        users: &[(String, String)],
        n: usize,
        arr: &Arrivals,
        svc: &Service,
    ) -> Result<Figures> {
        let base: Vec<usize> = users.iter().map(|(u, _)| arr.count(u)).collect();
        let mut sent: Vec<Vec<Instant>> = vec![Vec::new(); users.len()];
        let cpu0 = svc.usage().cpu;
        let total0 = arr.total();
        let t0 = Instant::now();
        for i in 0..n {
            // At most WINDOW refreshes outstanding: the platform disconnects a
            // service that lets thousands of frames pile up unread.
            if i >= WINDOW
                && !arr
                    .wait_total(total0 + i - WINDOW, t0 + self.sizes.cap)
                    .await
            {
                break;
            }
            let k = i % users.len();
            sent[k].push(Instant::now());
            self.control
                .act(&users[k].0, &users[k].1, "refresh")
                .await?;
        }
        let want: Vec<(String, usize)> = users
            .iter()
            .zip(&base)
            .zip(&sent)
            .map(|(((u, _), b), s)| (u.clone(), b + s.len()))
            .collect();
        let complete = arr.wait_counts(&want, t0 + self.sizes.cap).await;
        let mut lat = Vec::with_capacity(n);
        let mut last = t0;
        let mut arrived = 0;
        for (k, (u, _)) in users.iter().enumerate() {
            for (s, a) in sent[k].iter().zip(arr.since(u, base[k])) {
                lat.push(a.saturating_duration_since(*s));
                last = last.max(a);
                arrived += 1;
            }
        }
        lat.sort();
        let usage = svc.usage();
        Ok(Figures {
            rate: arrived as f64 / last.duration_since(t0).as_secs_f64().max(1e-9),
            rate_unit: "refreshes/s",
            p50_ms: pct(&lat, 0.5),
            p99_ms: pct(&lat, 0.99),
            peak_rss_mib: mib(usage.peak_rss_kib),
            cpu_s: (usage.cpu.saturating_sub(cpu0)).as_secs_f64(),
            done: if complete {
                format!("{n} refreshes")
            } else {
                format!(
                    "{arrived} of {n} refreshes answered in {:?}",
                    self.sizes.cap
                )
            },
            ..Figures::default()
        })
    }

    pub async fn w1(&self, target: Target, arr: &Arrivals) -> Result<Figures> {
        let ch = self.control.create_channel("w1");
        let users = self.users(&format!("w1{}", target.label()), self.sizes.w1_members);
        self.join_all(&users, &ch).await?;
        let Started {
            svc,
            startup_ms,
            settle_ms,
        } = self
            .start(target, std::slice::from_ref(&ch), &users, arr)
            .await?;
        let idle = svc.usage().rss_kib;
        let pairs: Vec<(String, String)> = users.iter().map(|u| (u.clone(), ch.clone())).collect();
        let mut f = self
            .refresh_storm(&pairs, self.sizes.w1_refreshes, arr, &svc)
            .await?;
        f.startup_ms = Some(startup_ms);
        f.settle_ms = settle_ms;
        f.idle_rss_mib = Some(mib(idle));
        Ok(f)
    }

    pub async fn w4(&self, target: Target, arr: &Arrivals) -> Result<Figures> {
        let mut channels = Vec::new();
        let mut pairs = Vec::new();
        for c in 0..self.sizes.w4_channels {
            let ch = self.control.create_channel(&format!("w4-{c}"));
            let users = self.users(&format!("w4{}c{c}u", target.label()), self.sizes.w4_members);
            self.join_all(&users, &ch).await?;
            pairs.extend(users.into_iter().map(|u| (u, ch.clone())));
            channels.push(ch);
        }
        let users: Vec<String> = pairs.iter().map(|(u, _)| u.clone()).collect();
        let started = self.start(target, &channels, &users, arr).await?;
        let mut f = self
            .refresh_storm(&pairs, self.sizes.w4_refreshes, arr, &started.svc)
            .await?;
        f.settle_ms = started.settle_ms;
        Ok(f)
    }

    /// Members join one by one; each join re-sends every member's view.
    pub async fn w2(&self, target: Target, arr: &Arrivals) -> Result<Figures> {
        let ch = self.control.create_channel("w2");
        let users = self.users(&format!("w2{}", target.label()), self.sizes.w2_members);
        let first = users[..1].to_vec();
        self.join_all(&first, &ch).await?;
        let svc = self
            .start(target, std::slice::from_ref(&ch), &first, arr)
            .await?
            .svc;
        let cpu0 = svc.usage().cpu;
        let t0 = Instant::now();
        let (mut lat, mut views, mut reached) = (Vec::new(), 0usize, 1usize);
        for k in 1..users.len() {
            if t0.elapsed() > self.sizes.cap {
                break;
            }
            let present = &users[..=k];
            let want: Vec<(String, usize)> = present
                .iter()
                .map(|u| (u.clone(), arr.count(u) + 1))
                .collect();
            let s = Instant::now();
            self.control.act(&users[k], &ch, "join").await?;
            if !arr.wait_counts(&want, t0 + self.sizes.cap).await {
                break;
            }
            lat.push(s.elapsed());
            views += present.len();
            reached = k + 1;
        }
        let elapsed = t0.elapsed().as_secs_f64();
        lat.sort();
        let usage = svc.usage();
        Ok(Figures {
            rate: views as f64 / elapsed.max(1e-9),
            rate_unit: "views/s",
            p50_ms: pct(&lat, 0.5),
            p99_ms: pct(&lat, 0.99),
            peak_rss_mib: mib(usage.peak_rss_kib),
            cpu_s: (usage.cpu.saturating_sub(cpu0)).as_secs_f64(),
            done: if reached == users.len() {
                format!("{reached} members")
            } else {
                format!(
                    "reached {reached} of {} members in {:?}",
                    users.len(),
                    self.sizes.cap
                )
            },
            ..Figures::default()
        })
    }

    /// One join while M are present: M+1 individual views.
    pub async fn w3(&self, target: Target, arr: &Arrivals) -> Result<Figures> {
        let ch = self.control.create_channel("w3");
        let users = self.users(&format!("w3{}", target.label()), self.sizes.w3_members);
        self.join_all(&users, &ch).await?;
        let svc = self
            .start(target, std::slice::from_ref(&ch), &users, arr)
            .await?
            .svc;
        let extra = self
            .control
            .create_user(&format!("w3{}extra", target.label()))
            .user_id;
        let cpu0 = svc.usage().cpu;
        let t0 = Instant::now();
        let (mut lat, mut views, mut rounds) = (Vec::new(), 0usize, 0usize);
        for _ in 0..self.sizes.w3_rounds {
            let mut everyone = users.clone();
            everyone.push(extra.clone());
            let want: Vec<(String, usize)> = everyone
                .iter()
                .map(|u| (u.clone(), arr.count(u) + 1))
                .collect();
            let s = Instant::now();
            self.control.act(&extra, &ch, "join").await?;
            if !arr.wait_counts(&want, t0 + self.sizes.cap).await {
                break;
            }
            lat.push(s.elapsed());
            views += everyone.len();
            let want: Vec<(String, usize)> = users
                .iter()
                .map(|u| (u.clone(), arr.count(u) + 1))
                .collect();
            self.control.act(&extra, &ch, "leave").await?;
            if !arr.wait_counts(&want, t0 + self.sizes.cap).await {
                break;
            }
            rounds += 1;
        }
        // Each join's time in order (the first is the only one that
        // creates its lists' groups), before sorting for the percentiles.
        let each: Vec<String> = lat.iter().map(|d| d.as_millis().to_string()).collect();
        lat.sort();
        let usage = svc.usage();
        let m = users.len() + 1;
        Ok(Figures {
            rate: views as f64 / lat.iter().map(Duration::as_secs_f64).sum::<f64>().max(1e-9),
            rate_unit: "views/s",
            p50_ms: pct(&lat, 0.5),
            p99_ms: pct(&lat, 0.99),
            peak_rss_mib: mib(usage.peak_rss_kib),
            cpu_s: (usage.cpu.saturating_sub(cpu0)).as_secs_f64(),
            done: format!(
                "{rounds} of {} joins, {m} views each; each join in ms: {}",
                self.sizes.w3_rounds,
                each.join(", ")
            ),
            ..Figures::default()
        })
    }
}
