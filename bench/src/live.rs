//! Live-view load for the benches: SSE clients of `racecast run --serve`
//! (readers that follow a change feed to its `end` event, and stuck clients
//! that ask for a feed and never read a byte), the ingest → view quantiles
//! and the process's memory.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use racecast_connectors::metrics::{HdrHistogram, Metrics};

/// A free loopback address to serve on.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    probe.local_addr().expect("a bound address")
}

/// What the reading clients saw, summed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadReport {
    /// Clients that read their feed.
    pub readers: usize,
    /// Events received (snapshots included).
    pub events: u64,
    /// Snapshots received (one each at the start; more for a reader that
    /// fell behind).
    pub snapshots: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Readers whose feed ended with the run's `end` event.
    pub ended: usize,
}

impl std::fmt::Display for ReadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} readers ({} ended) got {} events, {} snapshots, {:.1} MB",
            self.readers,
            self.ended,
            self.events,
            self.snapshots,
            self.bytes as f64 / 1e6
        )
    }
}

/// SSE clients of a run's live views, opened once its server answers.
pub struct LiveClients {
    opener: JoinHandle<(Vec<JoinHandle<ReadReport>>, Vec<TcpStream>)>,
}

impl LiveClients {
    /// Opens `readers` reading clients and `stuck` clients that never read,
    /// alternating between the two change feeds, on a thread of its own:
    /// it waits up to 30 s for the server at `addr` to answer.
    pub fn open(addr: SocketAddr, readers: usize, stuck: usize) -> LiveClients {
        let opener = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(30);
            while TcpStream::connect(addr).is_err() {
                assert!(Instant::now() < until, "the live server at {addr} never answered");
                std::thread::sleep(Duration::from_millis(5));
            }
            let stuck = (0..stuck).map(|i| ask(addr, view(i))).collect();
            let readers = (0..readers)
                .map(|i| {
                    let stream = ask(addr, view(i));
                    std::thread::spawn(move || read_feed(stream))
                })
                .collect();
            (readers, stuck)
        });
        LiveClients { opener }
    }

    /// Waits for every reader's feed to end (the run must be over), hangs
    /// up the stuck clients, and sums what the readers saw.
    pub fn finish(self) -> ReadReport {
        let (readers, stuck) = self.opener.join().expect("the clients' opener");
        drop(stuck);
        let mut total = ReadReport::default();
        for reader in readers {
            let r = reader.join().expect("a reader");
            total.readers += 1;
            total.events += r.events;
            total.snapshots += r.snapshots;
            total.bytes += r.bytes;
            total.ended += r.ended;
        }
        total
    }
}

fn view(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "lap_metrics"
    } else {
        "session_metrics"
    }
}

/// Connects and asks for a change feed (HTTP/1.0: the body is the stream
/// itself, without chunks).
fn ask(addr: SocketAddr, view: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect to the live server");
    write!(
        stream,
        "GET /api/v1/changes/{view} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("send the request");
    stream
}

fn read_feed(stream: TcpStream) -> ReadReport {
    let mut report = ReadReport {
        readers: 1,
        ..ReadReport::default()
    };
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => report.bytes += n as u64,
        }
        if line.starts_with("event: end") {
            report.ended = 1;
        } else if line.starts_with("data: ") && report.ended == 0 {
            report.events += 1;
            // `data: {"epoch":E,"snapshot":true,…`
            if line
                .split_once(',')
                .is_some_and(|(_, rest)| rest.starts_with("\"snapshot\":true"))
            {
                report.snapshots += 1;
            }
        }
    }
    report
}

/// The ingest → view latency's p50, p99, p99.9 and maximum, as text.
pub fn view_latency(metrics: &Metrics) -> String {
    let h = &metrics.ingest_to_view;
    format!(
        "{}  max {:.1} ms",
        quantiles("ingest→view", h),
        h.quantile(1.0) * 1e3
    )
}

/// The ingest → processed latency's p50, p99 and p99.9, as text: until the
/// frontier passed the record's epoch on every worker (what a view then
/// adds is the publisher's rendering and the clients' sockets).
pub fn processed_latency(metrics: &Metrics) -> String {
    quantiles("ingest→processed", &metrics.processing)
}

/// `name` and the p50, p99 and p99.9 of `h` (seconds) in ms.
fn quantiles(name: &str, h: &HdrHistogram) -> String {
    let ms = |q: f64| h.quantile(q) * 1e3;
    format!(
        "{name} p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999)
    )
}

/// The process's resident memory now and at its peak, in bytes.
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
