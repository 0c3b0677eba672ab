//! A real Prometheus (Debian's `prometheus`, installed by `.ci/run`)
//! scrapes a running `racecast run -w 2`, evaluates the alert rules under
//! `docker/prometheus/rules/`, and answers, through its HTTP API, the
//! latency quantiles, every alert expression and every PromQL expression of
//! every Grafana dashboard under `docker/grafana/dashboards/`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Running(Child, &'static str);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("{} exited early ({status}): {stderr}", self.1);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_owned()
}

/// `GET path` over HTTP/1.0 (no chunked bodies); returns the body.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_owned())
}

/// Runs an instant query; returns Prometheus' `data.result`, or the error.
fn query(prometheus: SocketAddr, promql: &str) -> Result<Vec<Value>, String> {
    let encoded: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let body = http_get(prometheus, &format!("/api/v1/query?query={encoded}"))
        .ok_or_else(|| format!("no answer (or an HTTP error) for {promql}"))?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{promql}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// The single value of an instant-vector query.
fn scalar(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let result = query(prometheus, promql).ok()?;
    let [sample] = result.as_slice() else { return None };
    sample["value"][1].as_str()?.parse().ok()
}

/// Every `expr` in a dashboard (panels, nested rows, targets).
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr") {
                out.push(expr.clone());
            }
            map.values().for_each(|v| exprs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Grafana's variables, as a live dashboard would fill them in.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("$process", ".*")
        .replace("$expectation", ".*")
}

/// Metric names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in ["racecast_", "process_"] {
        let mut rest = expr;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let preceded = rest[..at].chars().last();
            if !preceded.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '"') {
                names.insert(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

#[test]
fn prometheus_scrapes_racecast_and_answers_every_dashboard_and_alert() {
    let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("Prometheus is not installed: `apt-get install prometheus` (Debian's package; .ci/run installs it)");
    let dir = tempfile::tempdir().expect("tempdir");
    let (metrics_port, prometheus_port, live_port) = (free_port(), free_port(), free_port());
    let prometheus: SocketAddr = format!("127.0.0.1:{prometheus_port}")
        .parse()
        .expect("an address");

    let mut racecast = Running(
        Command::new(env!("CARGO_BIN_EXE_racecast"))
            .args(["run", "-w", "2", "--speed", "1", "--duration", "150s", "--quiet"])
            .args(["--disorder", "0.01,0.05,0.01,0.005"])
            .arg("--expectations")
            .arg(repo().join("schemas/expectations.example.json"))
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            // The live views' latency panel reads racecast_ingest_to_view_seconds.
            .args(["--serve", &format!("127.0.0.1:{live_port}")])
            .arg("--data")
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start racecast"),
        "racecast",
    );
    let rules = repo().join("docker/prometheus/rules/racecast-alerts.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: racecast\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n",
            rules.display()
        ),
    )
    .expect("write the Prometheus config");
    let mut server = Running(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prometheus}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start prometheus"),
        "prometheus",
    );

    // Wait for 15 s of scrapes with checkpoints in them.
    let started = Instant::now();
    loop {
        racecast.assert_alive();
        server.assert_alive();
        let scrapes = scalar(prometheus, "count_over_time(racecast_checkpoint_number[1m])").unwrap_or(0.0);
        let checkpoints = scalar(prometheus, "max(racecast_checkpoint_number)").unwrap_or(0.0);
        if scrapes >= 15.0 && checkpoints >= 5.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "Prometheus did not collect 15 s of racecast metrics ({scrapes} scrapes, checkpoint {checkpoints})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(scalar(prometheus, "up{job=\"racecast\"}"), Some(1.0));

    // Both workers report, under process 0.
    let workers = query(
        prometheus,
        "count by (worker) (racecast_silver_rows{process=\"0\"})",
    )
    .expect("query");
    assert_eq!(workers.len(), 2, "{workers:?}");

    // Latency quantiles from the histograms.
    for histogram in [
        "racecast_ingest_to_commit_seconds",
        "racecast_processing_latency_seconds",
        "racecast_event_to_commit_seconds",
    ] {
        for q in [0.5, 0.99, 0.999] {
            let promql = format!("histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[1m])))");
            let v = scalar(prometheus, &promql).unwrap_or_else(|| panic!("no value for {promql}"));
            assert!(v > 0.0 && v < 60.0, "{promql} = {v}");
        }
    }
    // Commits wait for the checkpoint interval (1 s): the median is below it
    // plus a commit, and above the time to process an epoch.
    let p50 = scalar(
        prometheus,
        "histogram_quantile(0.5, sum by (le) (rate(racecast_ingest_to_commit_seconds_bucket[1m])))",
    )
    .expect("p50");
    assert!(p50 < 1.5, "ingest → commit p50 {p50} s");

    // Every alert rule is loaded, evaluates without error, and its
    // expression without the threshold has data.
    let mut alerts = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = http_get(prometheus, "/api/v1/rules").expect("the rules API answers");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        let rules: Vec<Value> = v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if rules.iter().all(|r| r["health"] == "ok") && rules.len() == 4 || Instant::now() > deadline {
            for rule in &rules {
                assert_eq!(rule["type"], "alerting", "{rule}");
                assert_eq!(rule["health"], "ok", "{rule}");
                let expr = rule["query"].as_str().expect("a query");
                let (left, threshold) = expr.rsplit_once(" > ").expect("an alert compares with >");
                assert!(threshold.trim().parse::<f64>().is_ok(), "{expr}");
                let result = query(prometheus, left).unwrap_or_else(|e| panic!("{e}"));
                assert!(!result.is_empty(), "no data for alert {}: {left}", rule["name"]);
                alerts.insert(rule["name"].as_str().unwrap_or_default().to_owned());
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        alerts,
        BTreeSet::from(
            [
                "RacecastCheckpointStale",
                "RacecastProcessingLatencyHigh",
                "RacecastStreamingLag",
                "RacecastValidationFailureRate"
            ]
            .map(String::from)
        )
    );

    // Every dashboard panel's expression answers with data, and every metric
    // the dashboards read exists.
    let mut failures = Vec::new();
    let mut names = BTreeSet::new();
    let mut count = 0;
    for file in ["stream-health.json", "data-quality.json", "system-resources.json"] {
        let path = repo().join("docker/grafana/dashboards").join(file);
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("a dashboard"))
            .expect("dashboard JSON");
        let mut found = Vec::new();
        exprs(&dashboard, &mut found);
        assert!(found.len() >= 8, "{file} has {} expressions", found.len());
        for expr in found {
            count += 1;
            names.extend(metric_names(&expr));
            match query(prometheus, &substitute(&expr)) {
                Ok(result) if result.is_empty() => failures.push(format!("{file}: no data: {expr}")),
                Ok(_) => {}
                Err(e) => failures.push(format!("{file}: error: {e}")),
            }
        }
    }
    for name in &names {
        let promql = format!("count({{__name__=\"{name}\"}})");
        if scalar(prometheus, &promql).unwrap_or(0.0) < 1.0 {
            failures.push(format!("no series of {name}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} panel queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(names.len() >= 15, "the dashboards read {names:?}");
}
