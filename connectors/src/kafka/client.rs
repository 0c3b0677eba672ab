//! [`KafkaClient`]: how racecast connects to the brokers: bootstrap
//! servers, security (TLS, SASL) and any librdkafka setting the user adds
//! (`--kafka-config`). Every client racecast makes (source, producers,
//! admin, fold, the feature probe) starts from [`KafkaClient::config`].
//!
//! Secrets: the SASL password never leaves this module except into
//! librdkafka's configuration: `Debug` shows it as `<redacted>`, and no
//! error or log line names it.
//!
//! librdkafka reports why a connection fails (a refused password, a
//! certificate it does not trust) through its client context, not through
//! the call that then times out: [`Recorder`] keeps the last such error,
//! so that a failed call can say what went wrong. It also keeps the high
//! watermarks a consumer's statistics report, so that the source's lag
//! costs no broker round trip.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::statistics::Statistics;

/// `security.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether connections use TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl std::str::FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "plaintext" => Ok(SecurityProtocol::Plaintext),
            "ssl" => Ok(SecurityProtocol::Ssl),
            "sasl_plaintext" => Ok(SecurityProtocol::SaslPlaintext),
            "sasl_ssl" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!(
                "\"{other}\" is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"
            )),
        }
    }
}

/// `sasl.mechanism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (use it over TLS only).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            other => Err(format!(
                "\"{other}\" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"
            )),
        }
    }
}

/// SASL credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user.
    pub username: String,
    /// The password (never printed).
    pub password: String,
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to reach the brokers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaClient {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// TLS and SASL.
    pub security: SecurityProtocol,
    /// SASL credentials (with a SASL protocol).
    pub sasl: Option<SaslCredentials>,
    /// CA certificates (PEM) to verify the brokers with (the system's when
    /// none).
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM), for brokers that verify clients.
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    pub key: Option<PathBuf>,
    /// Further librdkafka settings (`--kafka-config KEY=VALUE`), applied
    /// last.
    pub extra: Vec<(String, String)>,
}

impl KafkaClient {
    /// Plain TCP to `brokers`, no authentication.
    pub fn plaintext(brokers: impl Into<String>) -> KafkaClient {
        KafkaClient {
            brokers: brokers.into(),
            ..KafkaClient::default()
        }
    }

    /// A client configuration with racecast's defaults and these
    /// connection settings.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "racecast")
            .set("log_level", "3")
            .set("security.protocol", self.security.as_str());
        if let Some(sasl) = &self.sasl {
            config
                .set("sasl.mechanism", sasl.mechanism.as_str())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        for (key, path) in [
            ("ssl.ca.location", &self.ca),
            ("ssl.certificate.location", &self.cert),
            ("ssl.key.location", &self.key),
        ] {
            if let Some(path) = path {
                config.set(key, path.display().to_string());
            }
        }
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }
}

/// A client context that keeps why librdkafka could not connect (an
/// authentication or TLS failure comes as a log line of facility `FAIL`,
/// the generic "all brokers are down" as an error event), and logs
/// librdkafka's other warnings through `tracing`.
#[derive(Default)]
pub struct Recorder {
    /// The first connection failure librdkafka logged.
    cause: Mutex<Option<String>>,
    /// The last error event.
    last: Mutex<Option<String>>,
    /// Each fetched (topic, partition)'s high watermark, as the client's
    /// last statistics gave it (`statistics.interval.ms`).
    high_watermarks: Mutex<HashMap<(String, i32), i64>>,
}

impl Recorder {
    /// Why the client could not connect, as precisely as librdkafka said:
    /// the first failure it logged, else its last error event.
    pub fn last_error(&self) -> Option<String> {
        let cause = self.cause.lock().ok().and_then(|c| c.clone());
        cause.or_else(|| self.last.lock().ok().and_then(|l| l.clone()))
    }

    /// The high watermark of `topic`/`partition` as the last statistics
    /// gave it: the broker's, as of the client's last fetch from it.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let high = self.high_watermarks.lock().ok()?;
        high.get(&(topic.to_owned(), partition)).copied()
    }

    /// Records `error` as the last error event.
    pub fn record(&self, error: String) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(error);
        }
    }
}

impl ClientContext for Recorder {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        // Connection failures (a refused password, a certificate that is
        // not trusted): kept for the error that follows, in which they are
        // reported; other warnings go to the log.
        if fac == "FAIL" || (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            tracing::debug!(facility = fac, "librdkafka: {log_message}");
            if let Ok(mut cause) = self.cause.lock() {
                cause.get_or_insert_with(|| log_message.to_owned());
            }
        } else if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            tracing::warn!(facility = fac, "librdkafka: {log_message}");
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        self.record(format!("{reason} ({error})"));
    }

    fn stats(&self, statistics: Statistics) {
        let Ok(mut high) = self.high_watermarks.lock() else {
            return;
        };
        for (name, topic) in statistics.topics {
            // Partition -1 is librdkafka's own (unassigned); an offset
            // below 0 means not known yet.
            for (partition, p) in topic.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    high.insert((name.clone(), partition), p.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for Recorder {}
