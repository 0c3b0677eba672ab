//! `racecast run --serve`, checked from outside: a simulated race with
//! duplicates, late data, corrections and invalid records, watched while it
//! runs by independent clients (`live_client.py`: Python's standard library,
//! its own SSE parser) folding the change feeds (plain, reconnecting with
//! `Last-Event-ID`, reconnecting with an id the server cannot know, and
//! filtered) and by the timing page in headless Chromium
//! (`live_page.py`). At the end every fold, the JSON views and the page's
//! tower must equal the Delta gold of the same run.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use racecast_connectors::delta::Table;
use racecast_testkit::config::python_script;
use racecast_testkit::tables::{json_rows, read, sorted};
use serde_json::{Map, Value};

use crate::{racecast, racecast_command};

/// A child process killed (and reaped) when the test ends, however it ends.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn python(script: &str, args: &[&str]) -> Running {
    Running(Some(
        Command::new("python3")
            .arg(python_script(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    ))
}

/// Waits for `child` (at most `timeout`) and returns what it wrote,
/// failing the test with its stderr when it failed.
fn finished(mut child: Running, what: &str, timeout: Duration) -> Output {
    let until = Instant::now() + timeout;
    while child
        .0
        .as_mut()
        .and_then(|c| c.try_wait().expect("waits"))
        .is_none()
    {
        assert!(Instant::now() < until, "{what} still running after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .0
        .take()
        .expect("a child")
        .wait_with_output()
        .expect("output");
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The lines of a client's stdout, each a JSON object, in canonical text.
fn rows_of(out: &Output) -> Vec<String> {
    let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON rows").to_string())
        .collect();
    rows.sort();
    rows
}

fn gold(data: &Path, table: Table) -> Vec<Map<String, Value>> {
    json_rows(&read(data, table))
}

#[test]
fn live_feeds_and_the_timing_page_end_equal_to_the_delta_gold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}");
    let run = Running(Some(
        racecast_command(dir.path(), None)
            .args([
                "run", "--fresh", "--data", "data", "--cars", "8", "--laps", "3", "--speed", "40",
            ])
            .args(["--disorder", "0.05,0.05,0.02,0.01", "--epoch", "20ms", "--quiet"])
            .args(["--serve", &addr, "--serve-linger", "120s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("racecast runs"),
    ));
    let fold = |view: &str, extra: &[&str]| {
        let mut args = vec!["fold", "--url", &url, "--view", view];
        args.extend_from_slice(extra);
        python("live_client.py", &args)
    };
    let clients = vec![
        ("laps", fold("lap_metrics", &[])),
        (
            "laps, reconnecting",
            fold("lap_metrics", &["--reconnect-every", "7"]),
        ),
        (
            "laps, reconnecting with an unknown id",
            fold("lap_metrics", &["--reconnect-every", "13", "--forget-id"]),
        ),
        ("laps of car 1", fold("lap_metrics", &["--car-number", "1"])),
        ("sessions", fold("session_metrics", &[])),
        (
            "sessions, reconnecting",
            fold("session_metrics", &["--reconnect-every", "3"]),
        ),
    ];
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-timing.png");
    let page = python(
        "live_page.py",
        &[
            "--url",
            &format!("{url}/"),
            "--screenshot",
            &screenshot.display().to_string(),
            "--timeout",
            "240",
        ],
    );
    let folds: Vec<(&str, Vec<String>)> = clients
        .into_iter()
        .map(|(what, child)| (what, rows_of(&finished(child, what, Duration::from_secs(300)))))
        .collect();
    let page = finished(page, "the timing page in Chromium", Duration::from_secs(300));
    // The run lingers: its final views are still served.
    let views: Vec<Vec<String>> = ["lap_metrics", "session_metrics"]
        .iter()
        .map(|view| {
            let got = python(
                "live_client.py",
                &["get", "--url", &format!("{url}/api/v1/views/{view}")],
            );
            rows_of(&finished(got, view, Duration::from_secs(60)))
        })
        .collect();
    // Ctrl-C ends the linger; the run exits cleanly.
    let pid = run.0.as_ref().map(Child::id).expect("running").to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = finished(run, "racecast run --serve", Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);

    let data = dir.path().join("data");
    let laps = gold(&data, Table::LapMetrics);
    let sessions = gold(&data, Table::SessionMetrics);
    assert!(
        laps.len() >= 8 * 4,
        "a lap row per car and lap (and the cool-down lap): {stderr}"
    );
    let car_1: Vec<Map<String, Value>> = laps.iter().filter(|r| r["car_number"] == 1).cloned().collect();
    assert!(!car_1.is_empty(), "car 1 drove");
    let (laps, sessions, car_1) = (sorted(laps), sorted(sessions), sorted(car_1));
    for (what, rows) in &folds {
        let want = match *what {
            w if w.starts_with("sessions") => &sessions,
            "laps of car 1" => &car_1,
            _ => &laps,
        };
        assert!(
            rows == want,
            "{what}: the fold differs from Delta gold ({} rows, want {})",
            rows.len(),
            want.len()
        );
    }
    assert_eq!(views[0], laps, "GET /api/v1/views/lap_metrics");
    assert_eq!(views[1], sessions, "GET /api/v1/views/session_metrics");

    // The tower: every car, in position order, with gold's numbers.
    let tower: Vec<Value> = String::from_utf8_lossy(&page.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("tower rows are JSON"))
        .collect();
    let mut classification: Vec<Map<String, Value>> = gold(&data, Table::SessionMetrics);
    classification.sort_by_key(|r| r["position"].as_i64());
    assert_eq!(tower.len(), classification.len(), "one tower row per car");
    for (shown, row) in tower.iter().zip(&classification) {
        for column in [
            "car_number",
            "position",
            "laps_completed",
            "best_lap_ms",
            "gap_to_leader_ms",
            "fastest_lap",
        ] {
            let want = row.get(column).cloned().unwrap_or(Value::Null);
            assert_eq!(
                shown[column], want,
                "tower row {shown} against gold {row:?}: {column}"
            );
        }
    }
    // Every car classified on the race distance or a lap down (the
    // simulator drives the cool-down lap, so the last racing lap completes).
    let leader = &classification[0];
    assert_eq!(
        leader["laps_completed"], 3,
        "the winner completes the race distance"
    );
    assert!(screenshot.exists(), "the page's screenshot is saved");
}

#[test]
fn a_taken_or_malformed_serve_address_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("address").to_string();
    for (serve, says) in [
        (addr.as_str(), "could not serve the live views on"),
        ("not-an-address", "--serve takes HOST:PORT"),
    ] {
        let out = racecast(
            &[
                "run", "--fresh", "--data", "data", "--laps", "1", "--speed", "max", "--serve", serve,
            ],
            dir.path(),
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--serve {serve} must fail");
        assert!(stderr.contains(says), "--serve {serve}: {stderr}");
        assert!(
            !dir.path().join("data").join(Table::Bronze.path()).exists(),
            "nothing written before the address is checked"
        );
    }
}
