//! Kafka over SASL_SSL with SCRAM-SHA-512: `racecast simulate`, `racecast
//! run` and `racecast changes` against tansu with authentication on, behind
//! a real TLS listener (stunnel: tansu 0.6 cannot switch its own TLS on,
//! its `--cert` and `--key` exclude each other), with certificates made by
//! openssl for the test. The run's change topics fold to its Delta gold; a
//! wrong password and an unknown CA fail at start with a clear error (exit
//! 1, nothing written); the password shows in no output, log, `--help`,
//! metric or Delta log.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use racecast_connectors::delta::Table;
use racecast_testkit::cli::{ok, stderr};
use racecast_testkit::tables::{json_rows, read, sorted};

use super::racecast_command;

const USER: &str = "alice";
const PASSWORD: &str = "s3cr3t-pa55w0rd-9f2c";
/// A 2-car, 2-lap race takes seconds; this only bounds a run that hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (make test installs it): {e}"))
}

fn tansu() -> String {
    std::env::var("TANSU").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        let cargo = format!("{home}/.cargo/bin/tansu");
        if Path::new(&cargo).exists() {
            cargo
        } else {
            "tansu".into()
        }
    })
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca) = (format!("{name}-ca.key"), format!("{name}-ca.crt"));
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write");
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            "/CN=racecast test CA",
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    ] {
        ok(run("openssl", &args, dir), "openssl");
    }
    (dir.join(ca), dir.join(crt), dir.join(key))
}

/// tansu with SASL (SCRAM) on, its user created, behind stunnel's TLS
/// listener: the TLS address, and the processes.
fn secured_broker(dir: &Path, cert: &Path, key: &Path) -> (String, Vec<Running>) {
    let (plain, tls) = (free_port(), free_port());
    // Relative to tansu's working directory: tansu 0.6 reads an absolute
    // sqlite path as relative to it.
    let storage = "sqlite://tansu.db".to_string();
    let broker = |auth: bool, advertised: u16| {
        let mut args = vec![
            "broker".to_string(),
            "--storage-engine".into(),
            storage.clone(),
            "--listener-url".into(),
            format!("tcp://127.0.0.1:{plain}"),
            "--advertised-listener-url".into(),
            format!("tcp://127.0.0.1:{advertised}"),
        ];
        if auth {
            args.push("--authentication".into());
        }
        let child = Command::new(tansu())
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        wait_for(plain, "tansu");
        Running(child)
    };
    // Users are created through the broker, before authentication is on
    // (the sqlite storage keeps them across the restart).
    let open = broker(false, plain);
    let created = run(
        &tansu(),
        &[
            "user",
            "create",
            USER,
            PASSWORD,
            "--broker",
            &format!("tcp://127.0.0.1:{plain}"),
            "--mechanism",
            "scram512",
        ],
        dir,
    );
    ok(created, "tansu user create");
    drop(open);
    std::thread::sleep(Duration::from_millis(300));
    let secured = broker(true, tls);
    let config = dir.join("stunnel.conf");
    std::fs::write(
        &config,
        format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\ncert = {}\nkey = {}\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("write the stunnel config");
    let stunnel = Command::new(if Path::new("/usr/bin/stunnel4").exists() {
        "stunnel4"
    } else {
        "stunnel"
    })
    .arg(&config)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("stunnel starts (make test installs it)");
    let stunnel = Running(stunnel);
    wait_for(tls, "stunnel");
    (format!("127.0.0.1:{tls}"), vec![stunnel, secured])
}

/// The security flags of every command here.
fn secured(brokers: &str, ca: &Path) -> Vec<String> {
    [
        "--kafka",
        brokers,
        "--kafka-security-protocol",
        "sasl_ssl",
        "--kafka-sasl-mechanism",
        "SCRAM-SHA-512",
        "--kafka-username",
        USER,
        "--kafka-ca",
        &ca.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn racecast(dir: &Path, args: &[&str], extra: &[String], password: &str) -> Output {
    racecast_command(dir, None)
        .args(args)
        .args(extra)
        .env("RACECAST_KAFKA_PASSWORD", password)
        .env("RUST_LOG", "debug")
        .output()
        .expect("racecast runs")
}

/// Every file under `dir`, read as bytes.
fn contains_anywhere(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = contains_anywhere(&path, needle) {
                return Some(found);
            }
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            return Some(path);
        }
    }
    None
}

#[test]
fn simulate_run_and_changes_work_over_sasl_ssl_and_fail_clearly_without_the_right_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ca, cert, key) = certificates(d, "server");
    let (other_ca, _, _) = certificates(d, "other");
    let (brokers, _processes) = secured_broker(d, &cert, &key);
    let flags = secured(&brokers, &ca);
    let mut outputs = Vec::new();

    let o = racecast(
        d,
        &[
            "simulate",
            "--topic",
            "telemetry",
            "--cars",
            "2",
            "--laps",
            "2",
            "--corrections",
            "0.02",
        ],
        &flags,
        PASSWORD,
    );
    let o = ok(o, "simulate over SASL_SSL");
    outputs.push(o);

    let metrics_port = free_port();
    let data = d.join("data");
    let mut child = racecast_command(d, None)
        .args([
            "run",
            "--topic",
            "telemetry",
            "--entries-topic",
            "telemetry.entries",
            "--stop-at-end",
        ])
        .args([
            "--epoch",
            "20ms",
            "--checkpoint-interval",
            "100ms",
            "--quiet",
            "--json",
            "--data",
        ])
        .arg(&data)
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(&flags)
        .env("RACECAST_KAFKA_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug")
        // A file, not a pipe: debug logs would fill a pipe nobody reads
        // while the run goes on.
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(d.join("run.log")).expect("a log file"))
        .spawn()
        .expect("racecast run starts");
    let mut scraped = String::new();
    // A run that cannot finish (a broker that stopped answering) fails the
    // test with its log instead of hanging the suite.
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().expect("waits").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(d.join("run.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "the run over SASL_SSL did not end within {RUN_TIMEOUT:?}; the last lines of its log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", metrics_port)) {
            use std::io::{Read, Write};
            let _ = write!(stream, "GET /metrics HTTP/1.0\r\n\r\n");
            let _ = stream.read_to_string(&mut scraped);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut ran = child.wait_with_output().expect("run ends");
    ran.stderr = std::fs::read(d.join("run.log")).expect("the run's log");
    let ran = ok(ran, "run over SASL_SSL");
    let summary: serde_json::Value = serde_json::from_slice(&ran.stdout).expect("a JSON summary");
    assert!(summary["records"].as_u64().is_some_and(|r| r > 1000), "{summary}");
    outputs.push(ran);

    let o = ok(
        racecast(
            d,
            &["changes", "--topic", "racecast.gold.lap_metrics"],
            &flags,
            PASSWORD,
        ),
        "changes over SASL_SSL",
    );
    let folded = sorted(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON rows"))
            .collect(),
    );
    assert_eq!(
        folded,
        sorted(json_rows(&read(&data, Table::LapMetrics))),
        "the lap change topic folds to the Delta gold"
    );
    outputs.push(o);

    // A wrong password and an unknown CA: a clear error at start, exit 1,
    // nothing written.
    for (what, flags, password, cause) in [
        (
            "a wrong password",
            secured(&brokers, &ca),
            "not-the-password",
            "authentication",
        ),
        (
            "an unknown CA",
            secured(&brokers, &other_ca),
            PASSWORD,
            "certificate",
        ),
    ] {
        let wrong = d.join(format!("data-{}", what.replace(' ', "-")));
        let o = racecast(
            d,
            &[
                "run",
                "--topic",
                "telemetry",
                "--stop-at-end",
                "--quiet",
                "--data",
                &wrong.display().to_string(),
            ],
            &flags,
            password,
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let message = stderr(&o);
        let error = message
            .lines()
            .find(|l| l.starts_with("racecast: error:"))
            .unwrap_or_else(|| panic!("{what}: an error line: {message}"));
        assert!(
            error.contains(&brokers),
            "{what}: the error names the broker: {error}"
        );
        assert!(
            error.to_lowercase().contains(cause),
            "{what}: the error says why ({cause}): {error}"
        );
        assert!(
            !wrong.join("bronze").exists(),
            "{what}: nothing written under {}",
            wrong.display()
        );
        outputs.push(o);
    }

    // The password is nowhere.
    let help = ok(racecast(d, &["run", "--help"], &[], PASSWORD), "run --help");
    outputs.push(help);
    for o in &outputs {
        for stream in [&o.stdout, &o.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(PASSWORD),
                "the password shows in a command's output: {}",
                String::from_utf8_lossy(stream)
            );
        }
    }
    assert!(!scraped.is_empty(), "the metrics were scraped during the run");
    assert!(!scraped.contains(PASSWORD), "the password shows in /metrics");
    assert_eq!(
        contains_anywhere(&data, PASSWORD.as_bytes()),
        None,
        "the password shows in a file of the tables (commitInfo, manifests)"
    );
}
