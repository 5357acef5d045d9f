//! The processes a benchmark runs and what they cost: services started and stopped as
//! children, and the CPU time and memory each used, from `/proc`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::client::Client;

/// A service (`ingest`, `projector`, `query-api`) running as a child, its output in a log and
/// its pid in `DIR/NAME.pid` (so `deploy/dev` can stop it if the benchmark dies).
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    pidfile: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `bin/name` with the environment plus `env`, in a process group of its own.
    pub fn start(
        bin: &Path,
        dir: &Path,
        name: &'static str,
        log: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        let log = dir.join(log);
        let out = File::options().create(true).append(true).open(&log)?;
        let child = Command::new(bin.join(name))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let pidfile = dir.join(format!("{name}.pid"));
        std::fs::write(&pidfile, child.id().to_string())?;
        Ok(Self {
            name,
            child,
            pidfile,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name and pid, for [`Processes`].
    pub fn who(&self) -> (&'static str, u32) {
        (self.name, self.child.id())
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `GET /_readiness` on `addr` answers 200, for at most `within`.
    pub async fn ready(&mut self, addr: &str, within: Duration) -> anyhow::Result<()> {
        let client = Client::new(&format!("http://{addr}"))?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if !self.alive() {
                bail!("{} exited: see {}", self.name, self.log.display());
            }
            if let Ok(answer) = client.get("/_readiness", "").await
                && answer.status == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "{} was not ready within {within:?}: see {}",
            self.name,
            self.log.display()
        )
    }

    /// SIGTERM, up to 10 s for the drain, then SIGKILL.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.alive() {
            // SIGTERM lets a service drain; std only sends SIGKILL.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// CPU ticks `pid` used with its reaped children's (utime, stime, cutime, cstime); 0 when it
/// is not running.
pub fn ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after "PID (COMM) ": utime, stime, cutime, cstime are the 12th to 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    fields
        .get(11..15)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
}

/// The pids whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// Peak resident memory of `pid`, in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Resets `pid`'s peak RSS to its current RSS, so a later peak is the next phase's.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The unit of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(100.0)
}

/// What each process has used so far, in ticks.
#[derive(Debug, Clone, Default)]
pub struct Usage(BTreeMap<&'static str, u64>);

/// The processes whose CPU a phase accounts for.
pub struct Processes<'a> {
    pub broker: u32,
    /// The directory holding `postmaster.pid`.
    pub pgdata: &'a Path,
    pub services: Vec<(&'static str, u32)>,
}

impl Processes<'_> {
    /// The broker, Postgres (the postmaster, its live backends and those it reaped), each
    /// running service, and `clients`: this process (the load generator runs in it) and its
    /// children that finished.
    pub fn usage(&self) -> Usage {
        let mut used = BTreeMap::new();
        used.insert("broker", ticks(self.broker));
        let postmaster = std::fs::read_to_string(self.pgdata.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok())
            .unwrap_or(0);
        let postgres = ticks(postmaster) + children(postmaster).into_iter().map(ticks).sum::<u64>();
        used.insert("postgres", postgres);
        for name in ["ingest", "projector", "query-api"] {
            let pid = self.services.iter().find(|(n, _)| *n == name).map(|s| s.1);
            used.insert(name, pid.map_or(0, ticks));
        }
        used.insert("clients", ticks(std::process::id()));
        Usage(used)
    }
}

/// A phase's CPU seconds per process and its wall time (`cpu-NAME.json`).
#[derive(Debug, Serialize)]
pub struct Phase {
    pub wall_seconds: f64,
    #[serde(flatten)]
    pub seconds: BTreeMap<&'static str, f64>,
}

/// CPU accounting of one phase: [`Meter::start`], the phase, [`Meter::stop`]. A phase must not
/// stop a service (its time would be lost).
pub struct Meter {
    at: Usage,
    started: Instant,
}

impl Meter {
    pub fn start(processes: &Processes<'_>) -> Self {
        Self {
            at: processes.usage(),
            started: Instant::now(),
        }
    }

    pub fn stop(self, processes: &Processes<'_>) -> Phase {
        let now = processes.usage();
        let per_second = ticks_per_second();
        let seconds = now
            .0
            .iter()
            .map(|(name, ticks)| {
                let before = self.at.0.get(name).copied().unwrap_or(0);
                let used = ticks.saturating_sub(before) as f64 / per_second;
                (*name, (used * 100.0).round() / 100.0)
            })
            .collect();
        Phase {
            wall_seconds: self.started.elapsed().as_secs_f64(),
            seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_by_its_parent_and_a_gone_process_used_nothing() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(children(std::process::id()).contains(&child.id()));
        assert!(peak_rss_kb(std::process::id()) > 0);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children(std::process::id()).contains(&child.id()));
        assert_eq!(ticks(u32::MAX), 0);
    }
}
