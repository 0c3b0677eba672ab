//! The local stack as `make up / wait / init / down` run it
//! (`scripts/stack.sh`), on free ports with the binary under test: tansu,
//! `racecast run -n 2` and Prometheus come up and turn healthy, a simulated
//! race fed to Kafka lands in the Delta tables, the change topics fold to
//! exactly the Delta tables' rows, Prometheus has both racecast processes
//! as healthy targets, and `down` leaves none of the stack's processes
//! running.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use racecast_connectors::delta::Table;
use racecast_testkit::cli::ok;
use racecast_testkit::tables::{json_rows, read, sorted};

use super::racecast_command;

/// Ports the stack listens on.
struct Ports {
    kafka: u16,
    /// Process p serves its metrics on `metrics + p`.
    metrics: u16,
    prometheus: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Two free consecutive ports.
fn free_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// `scripts/stack.sh` of this stack.
struct Stack {
    dir: PathBuf,
    ports: Ports,
}

impl Stack {
    fn script(&self, command: &str) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack.sh");
        Command::new("bash")
            .arg(script)
            .arg(command)
            .env("STACK_DIR", &self.dir)
            .env("STACK_KAFKA_PORT", self.ports.kafka.to_string())
            .env("STACK_METRICS_PORT", self.ports.metrics.to_string())
            .env("STACK_PROMETHEUS_PORT", self.ports.prometheus.to_string())
            .env("STACK_CARS", "4")
            .env("STACK_LAPS", "2")
            .env("STACK_TIMEOUT", "90")
            .env("RACECAST_BIN", env!("CARGO_BIN_EXE_racecast"))
            .output()
            .expect("bash runs the stack script")
    }

    fn pids(&self) -> Vec<u32> {
        std::fs::read_dir(self.dir.join("pids"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Whatever happened, the stack's processes go.
        let _ = self.script("down");
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split(' ').nth(2).is_none_or(|state| state != "Z"))
}

#[test]
fn the_local_stack_comes_up_feeds_a_race_folds_to_delta_and_goes_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = Stack {
        dir: dir.path().join("stack"),
        ports: Ports {
            kafka: free_port(),
            metrics: free_pair(),
            prometheus: free_port(),
        },
    };
    ok(stack.script("up"), "stack up");
    ok(stack.script("wait"), "stack wait");
    let fed = ok(stack.script("init"), "stack init");
    let said = String::from_utf8_lossy(&fed.stderr).into_owned();
    let records: usize = said
        .split_whitespace()
        .skip_while(|w| *w != "produced")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("init says how many records it produced: {said}"));

    // The race lands: every record (and the 4 entries) in bronze.
    let data = stack.dir.join("data");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let bronze = json_rows(&read(&data, Table::Bronze)).len();
        if bronze == records + 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bronze holds {bronze} of {} records:\n{}",
            records + 4,
            String::from_utf8_lossy(&stack.script("logs").stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The change topics fold to the Delta tables (once the progress
    // record of the last checkpoint is written).
    let brokers = format!("127.0.0.1:{}", stack.ports.kafka);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (topic, table) in [
        ("racecast.silver.telemetry_enriched", Table::Silver),
        ("racecast.gold.lap_metrics", Table::LapMetrics),
        ("racecast.gold.session_metrics", Table::SessionMetrics),
    ] {
        loop {
            let out = ok(
                racecast_command(dir.path(), None)
                    .args(["changes", "--kafka", &brokers, "--topic", topic])
                    .output()
                    .expect("racecast changes runs"),
                "racecast changes",
            );
            let folded = sorted(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("JSON rows"))
                    .collect(),
            );
            let delta = sorted(json_rows(&read(&data, table)));
            if folded == delta && !delta.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{topic} folds to {} rows, the Delta table has {}",
                folded.len(),
                delta.len()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // Prometheus scrapes both processes.
    let targets = http_get(stack.ports.prometheus, "/api/v1/targets");
    let targets: serde_json::Value = serde_json::from_str(&targets).expect("JSON");
    let up: Vec<&str> = targets["data"]["activeTargets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| t["health"] == "up")
        .filter_map(|t| t["scrapeUrl"].as_str())
        .collect();
    assert_eq!(up.len(), 2, "both racecast processes are healthy targets: {up:?}");

    let pids = stack.pids();
    assert_eq!(pids.len(), 4, "tansu, two racecast processes, prometheus");
    ok(stack.script("down"), "stack down");
    std::thread::sleep(Duration::from_millis(500));
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} of the stack still runs after down");
    }
    for port in [
        stack.ports.kafka,
        stack.ports.metrics,
        stack.ports.metrics + 1,
        stack.ports.prometheus,
    ] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after down"
        );
    }
}

/// The body of `GET path` on 127.0.0.1:`port`.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}
