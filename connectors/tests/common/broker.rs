//! A real Kafka-protocol broker for tests: tansu (in memory) on a free
//! loopback port, stopped when dropped. `.ci/run` installs tansu; set
//! `TANSU` to use another binary.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu"));
    on_path
        .or(in_cargo.filter(|p| p.is_file()))
        .expect("tansu is not installed: run `cargo install tansu --features dynostore,libsql` (or .ci/run), or set TANSU")
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
        let mut broker = Broker { child, addr };
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
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Creates topics (name, partitions).
    #[allow(dead_code)]
    pub fn create_topics(&self, topics: &[(&str, i32)]) {
        racecast_connectors::kafka::ensure_topics(&self.addr, topics).expect("topics created");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
