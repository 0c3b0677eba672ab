//! One writer per data root: a run holds a lease, the object
//! `_racecast/lease.json` naming it (run id, host, process), renewed by a
//! thread of its own every [`RENEW`] and deleted when the run ends. A run
//! that finds another's lease:
//!
//! - takes it at once when its holder is a process of this host that no
//!   longer exists (a crashed run restarted on the same machine);
//! - otherwise waits up to the lease's time to live ([`TTL`]): a crashed
//!   holder elsewhere stops renewing and the lease lapses; a live one
//!   renews it, and the run is refused with [`StorageError::Held`].
//!
//! The first lease is created with a conditional put, so of two runs
//! starting together one gets it. Taking over a lapsed lease is a plain
//! put; two runs doing that within the same instant is not excluded
//! (Delta's own conditional commits still keep the log whole).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Location, StorageError};

/// The lease object under the data root.
pub const OBJECT: &str = "_racecast/lease.json";

/// How often the holder renews its lease.
pub const RENEW: Duration = Duration::from_secs(1);

/// How long a lease holds without renewal.
pub const TTL: Duration = Duration::from_secs(6);

/// Who holds a lease.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Holder {
    run_id: String,
    host: String,
    boot_id: String,
    pid: u32,
    /// The process's start time (clock ticks since boot), so that a
    /// reused pid is not taken for the holder.
    started: u64,
    renewed_ms: i64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} on {}, pid {}", self.run_id, self.host, self.pid)
    }
}

/// A held lease; dropping it stops the renewals and deletes the lease.
pub struct Lease {
    root: Location,
    holder: Holder,
    stop: Arc<AtomicBool>,
    renewer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({} at {})", self.holder, self.root)
    }
}

impl Lease {
    /// Takes the lease on `root` for `run_id` (see the module header);
    /// may wait up to [`TTL`].
    pub fn acquire(root: &Location, run_id: &str) -> Result<Lease, StorageError> {
        let mut holder = me(run_id);
        let deadline = Instant::now() + TTL + RENEW;
        let mut seen: Option<Holder> = None;
        loop {
            holder.renewed_ms = crate::host::now_ms();
            let bytes = encode(&holder);
            let current = match root.read(OBJECT)? {
                None if root.write_new(OBJECT, bytes)? => break,
                None => continue,
                Some(bytes) => serde_json::from_slice::<Holder>(&bytes).ok(),
            };
            let free = match &current {
                // Unreadable: a lease racecast did not write whole; take it.
                None => true,
                Some(other) => other.run_id == run_id || !other.alive(),
            };
            let lapsed = seen.is_some() && seen == current;
            if free || (lapsed && Instant::now() >= deadline) {
                root.write(OBJECT, encode(&holder))?;
                break;
            }
            if seen.is_some() && seen != current {
                // Renewed while we waited: a live run holds it.
                return Err(StorageError::Held {
                    location: root.to_string(),
                    holder: current.map_or_else(String::new, |h| h.to_string()),
                    ttl_s: TTL.as_secs(),
                });
            }
            if seen.is_none() {
                tracing::info!(
                    holder = %current.as_ref().map_or_else(String::new, |h| h.to_string()),
                    "the tables' lease is held: waiting for it to lapse"
                );
            }
            seen = current;
            std::thread::sleep(RENEW);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (root, holder, stop) = (root.clone(), holder.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("racecast-lease".into())
                .spawn(move || renew(&root, holder, &stop))
                .ok()
        };
        Ok(Lease {
            root: root.clone(),
            holder,
            stop,
            renewer,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(renewer) = self.renewer.take() {
            renewer.thread().unpark();
            let _ = renewer.join();
        }
        // Only our own lease is deleted (a run that took over a lapsed one
        // keeps it).
        let ours = self
            .root
            .read(OBJECT)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())
            .is_some_and(|h| h.run_id == self.holder.run_id);
        if ours && let Err(e) = self.root.delete(OBJECT) {
            tracing::warn!(error = %e, "could not delete the tables' lease");
        }
    }
}

fn renew(root: &Location, mut holder: Holder, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(RENEW);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        holder.renewed_ms = crate::host::now_ms();
        if let Err(e) = root.write(OBJECT, encode(&holder)) {
            tracing::warn!(error = %e, "could not renew the tables' lease");
        }
    }
}

fn encode(holder: &Holder) -> Vec<u8> {
    serde_json::to_vec(holder).unwrap_or_default()
}

fn me(run_id: &str) -> Holder {
    let pid = std::process::id();
    Holder {
        run_id: run_id.to_owned(),
        host: read_trimmed("/proc/sys/kernel/hostname"),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        pid,
        started: start_time(pid).unwrap_or(0),
        renewed_ms: 0,
    }
}

impl Holder {
    /// Whether the holder may still be running: always, unless it is a
    /// process of this host (and boot) that is gone.
    fn alive(&self) -> bool {
        let here = self.host == read_trimmed("/proc/sys/kernel/hostname")
            && self.boot_id == read_trimmed("/proc/sys/kernel/random/boot_id")
            && !self.boot_id.is_empty();
        !here || start_time(self.pid).is_some_and(|s| s == self.started)
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), `None` when
/// there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_refused_and_a_dead_one_on_this_host_is_replaced() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = Location::local(dir.path()).expect("a location");
        let first = Lease::acquire(&root, "run-a").expect("a free lease");
        let started = Instant::now();
        let refused = Lease::acquire(&root, "run-b").expect_err("held by a live run");
        assert!(matches!(refused, StorageError::Held { .. }), "{refused}");
        assert!(refused.to_string().contains("run-a"), "{refused}");
        assert!(started.elapsed() < TTL + RENEW * 3, "waited one lease at most");
        drop(first);
        assert!(!root.exists(OBJECT).expect("looked up"), "released on drop");
        // A crashed holder of this host: a pid that is not running.
        let mut dead = me("run-c");
        dead.pid = u32::MAX - 1;
        root.write(OBJECT, encode(&dead)).expect("written");
        let started = Instant::now();
        let taken = Lease::acquire(&root, "run-d").expect("a dead holder's lease");
        assert!(started.elapsed() < RENEW, "taken at once");
        drop(taken);
    }

    #[test]
    fn the_start_time_of_this_process_is_known() {
        assert!(start_time(std::process::id()).is_some());
        assert!(start_time(u32::MAX - 1).is_none());
    }
}
