//! A real Kafka-protocol broker for tests: tansu (in memory) on a free
//! loopback port, stopped when dropped. `make test` (and `.ci/run`)
//! installs tansu; set `TANSU` to use another binary, or
//! `RACECAST_KAFKA_BROKERS` to use a broker that is already running (each
//! test then names its topics with a prefix of its own, through
//! [`Broker::topic`], so that tests sharing the broker do not meet).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use racecast_connectors::kafka::{KafkaClient, TopicSettings, ensure_topics};

/// The environment variable naming a running broker to test against.
pub const BROKERS_VAR: &str = "RACECAST_KAFKA_BROKERS";

/// A running broker.
pub struct Broker {
    /// The tansu process this fixture started (none for a shared broker).
    child: Option<Child>,
    /// Bootstrap servers, e.g. `127.0.0.1:PORT`.
    pub addr: String,
    /// Prepended to topic names on a shared broker.
    prefix: Option<String>,
}

fn tansu() -> PathBuf {
    find_binary("tansu", "TANSU").expect(
        "tansu is not installed: run `cargo install tansu --features dynostore,libsql` (or .ci/run), or set TANSU",
    )
}

/// The server binary `name`: `$variable` when set, else on `PATH`, else
/// in `~/.cargo/bin` (where `cargo install` puts it).
pub(crate) fn find_binary(name: &str, variable: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
    on_path.or(in_cargo.filter(|p| p.is_file()))
}

impl Broker {
    /// Starts tansu on a free port and waits until it accepts connections.
    ///
    /// The port is free when picked, but another test running at the same
    /// time may take it before tansu binds it (a second broker, or a timely
    /// process address): then tansu exits, and a connection would reach the
    /// other listener. So the broker counts as started only once the port
    /// accepts connections *and* tansu is still running a moment later;
    /// otherwise it starts again on another port.
    pub fn start() -> Broker {
        if let Some(addr) = std::env::var(BROKERS_VAR).ok().filter(|a| !a.is_empty()) {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            return Broker {
                child: None,
                addr,
                prefix: Some(format!("t{stamp}-{}-{n}", std::process::id())),
            };
        }
        for _ in 0..5 {
            if let Some(broker) = Self::try_start() {
                return broker;
            }
        }
        panic!("tansu did not start on a free port in 5 attempts");
    }

    fn try_start() -> Option<Broker> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let mut broker = Broker {
            child: Some(child),
            addr,
            prefix: None,
        };
        let started = Instant::now();
        while TcpStream::connect(&broker.addr).is_err() {
            if broker.exited() {
                return None;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not listen on {}",
                broker.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        (!broker.exited()).then_some(broker)
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// The name a test's topic `name` has on this broker: `name` itself on
    /// a broker of the test's own, a name no other test uses on a shared
    /// one.
    pub fn topic(&self, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{name}"),
            None => name.to_owned(),
        }
    }

    /// How to reach this broker (plain TCP).
    pub fn client(&self) -> KafkaClient {
        KafkaClient::plaintext(&self.addr)
    }

    /// Creates topics (name, partitions), named as given.
    pub fn create_topics(&self, topics: &[(&str, i32)]) {
        ensure_topics(&self.client(), topics, &TopicSettings::default()).expect("topics created");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
