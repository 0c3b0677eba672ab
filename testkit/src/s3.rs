//! A real S3 server for tests: s3s-fs on a free loopback port, storing its
//! objects as files under a temporary root directory, stopped (and the
//! directory removed) when dropped. `make test` (and `.ci/run`) installs
//! s3s-fs; set `S3S_FS` to use another binary.
//!
//! s3s-fs checks every request's SigV4 signature against the credentials
//! it is given, answers `412 PreconditionFailed` to a `PUT` with
//! `If-None-Match: *` on an existing key (what a Delta commit relies on),
//! and does multipart uploads. Where it differs from AWS: its conditional
//! put is a check then a rename, so two *concurrent* creators of one key
//! can both succeed (a test of racing writers proves nothing here); a
//! `PUT` into a missing bucket creates it instead of failing; and it keeps
//! each object's metadata in a file named after the base64 of its key, so
//! keys past ~160 bytes fail (`File name too long`, a 500): tests keep
//! their prefixes short.
//!
//! [`S3Server::stop`] and [`S3Server::restart`] kill the server and bring
//! it back on the same port over the same directory, for tests of a
//! store that goes away in the middle of a run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The region the credentials are signed for (s3s-fs accepts any).
pub const REGION: &str = "us-east-1";

/// A running s3s-fs.
pub struct S3Server {
    /// The s3s-fs process (none between [`S3Server::stop`] and
    /// [`S3Server::restart`]).
    child: Option<Child>,
    port: u16,
    root: PathBuf,
    access_key: String,
    secret_key: String,
}

fn s3s_fs() -> PathBuf {
    crate::broker::find_binary("s3s-fs", "S3S_FS").expect(
        "s3s-fs is not installed: run `cargo install s3s-fs --version 0.14.1 --features binary` \
         (or scripts/test-deps.sh), or set S3S_FS",
    )
}

/// Something no other server of this test binary (nor of a run before it)
/// uses: the process id, a counter and the clock.
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{n}-{nanos:x}", std::process::id())
}

/// 64 unpredictable bits (std's randomly keyed hasher: no dependency).
fn random() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(unique())
}

impl S3Server {
    /// Starts s3s-fs on a free port over a new temporary directory, with
    /// credentials of its own, and waits until it answers HTTP.
    ///
    /// As with [`crate::Broker::start`], another test may take the port
    /// between picking and binding it: then s3s-fs exits, and the server
    /// starts again on another port.
    pub fn start() -> S3Server {
        let id = unique();
        let root = std::env::temp_dir().join(format!("racecast-s3-{id}"));
        std::fs::create_dir_all(&root).expect("the S3 root directory is created");
        let mut server = S3Server {
            child: None,
            port: 0,
            root,
            access_key: format!("racecast{:016x}", random()),
            secret_key: format!("{:016x}{:016x}", random(), random()),
        };
        for _ in 0..5 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            if server.spawn() {
                return server;
            }
        }
        panic!("s3s-fs did not start on a free port in 5 attempts");
    }

    /// Runs s3s-fs on `self.port`; true once it answers and is still
    /// running a moment later, false if it exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", &self.access_key, "--secret-key", &self.secret_key])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            if self.exited() {
                self.child = None;
                return false;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s3s-fs did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        if self.exited() {
            self.child = None;
            return false;
        }
        true
    }

    /// Whether an HTTP server answers on the port (an unsigned request:
    /// s3s-fs answers it 403).
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut head = [0u8; 9];
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.")
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory s3s-fs stores its objects under: bucket `b`'s key `k`
    /// is the file `root_dir()/b/k` (s3s-fs keeps its metadata in hidden
    /// files beside the buckets).
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Creates the bucket `name` (if it is not there yet) and returns its
    /// name. s3s-fs's buckets are the directories under its root, and
    /// making the directory is all its own CreateBucket does; making it
    /// here needs no S3 client, and works while the server is stopped.
    /// The name must be a valid S3 one (3 to 63 lowercase letters, digits
    /// and hyphens): s3s-fs answers others `400 InvalidBucketName`.
    pub fn bucket(&self, name: &str) -> String {
        let valid = (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        assert!(valid, "not an S3 bucket name: {name:?}");
        std::fs::create_dir_all(self.root.join(name)).expect("the bucket directory is created");
        name.to_owned()
    }

    /// How many objects bucket `bucket` holds under the folder `prefix`
    /// ("" for all), counted on the server's disk (hidden files, s3s-fs's
    /// own metadata, left out).
    pub fn objects(&self, bucket: &str, prefix: &str) -> usize {
        let mut stack = vec![self.root.join(bucket).join(prefix)];
        let mut count = 0;
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                match entry.file_type() {
                    Ok(t) if t.is_dir() => stack.push(entry.path()),
                    Ok(_) if !hidden => count += 1,
                    _ => {}
                }
            }
        }
        count
    }

    /// The environment that points an S3 client (object_store's
    /// `AmazonS3Builder::from_env`, the `racecast` binary, Python's
    /// deltalake) at this server, for a child process.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// [`S3Server::env`] as storage options (`Location::parse`,
    /// `--storage-option`): the same names, lower case.
    pub fn storage_options(&self) -> std::collections::BTreeMap<String, String> {
        self.env()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    }

    /// Kills the server (SIGKILL: as a crash would), keeping its directory.
    /// Requests then fail with connection refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port over the same directory
    /// (stopping it first if it runs), and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let started = Instant::now();
        while !self.spawn() {
            // Only another process binding the port in between gets here.
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s3s-fs could not bind port {} again",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
