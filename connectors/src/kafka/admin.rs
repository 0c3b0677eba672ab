//! Topic creation and metadata, and a probe of what the brokers support.
//!
//! The probe sends one `ApiVersions` request (v0), over TLS when the
//! client uses it (a broker answers it before SASL authentication), and
//! reads the API keys the broker advertises: `--kafka-transactions auto`
//! uses transactions only where `EndTxn` is advertised (tansu 0.6
//! advertises the rest of the transactional API but not `EndTxn`, so a
//! producer there would fail at its first commit).
//!
//! Topics racecast creates get [`TopicSettings`] (partitions, replication
//! factor, `min.insync.replicas`); an existing topic with fewer partitions
//! or replicas than asked is used as it is, and reported.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use super::client::{KafkaClient, Recorder};
use super::{KafkaError, REQUEST_TIMEOUT};

/// `ApiVersions` API key.
const API_VERSIONS: i16 = 18;
/// `EndTxn` API key.
const END_TXN: i16 = 26;

/// What the brokers advertise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFeatures {
    /// API keys advertised by the first broker that answered.
    pub api_keys: Vec<i16>,
}

impl BrokerFeatures {
    /// Asks the first reachable bootstrap server for its API versions.
    pub fn probe(client: &KafkaClient) -> Result<BrokerFeatures, KafkaError> {
        let mut last = String::from("no bootstrap server given");
        for server in client.brokers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match api_keys(client, server) {
                Ok(api_keys) => return Ok(BrokerFeatures { api_keys }),
                Err(e) => last = format!("{server}: {e}"),
            }
        }
        Err(KafkaError::Unreachable {
            brokers: client.brokers.clone(),
            reason: last,
        })
    }

    /// Whether a transaction can be committed (`EndTxn` is advertised).
    pub fn transactions(&self) -> bool {
        self.api_keys.contains(&END_TXN)
    }
}

/// The API keys `server` advertises, asked over TLS when `client` uses
/// it.
fn api_keys(client: &KafkaClient, server: &str) -> std::io::Result<Vec<i16>> {
    let server = server.trim_start_matches("tcp://");
    let addr = server
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    if !client.security.tls() {
        return api_keys_over(stream);
    }
    let tls = |e: openssl::error::ErrorStack| std::io::Error::other(format!("TLS setup: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(tls)?;
    if let Some(ca) = &client.ca {
        builder.set_ca_file(ca).map_err(tls)?;
    }
    if let (Some(cert), Some(key)) = (&client.cert, &client.key) {
        builder.set_certificate_chain_file(cert).map_err(tls)?;
        builder.set_private_key_file(key, SslFiletype::PEM).map_err(tls)?;
    }
    let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
    let stream = builder
        .build()
        .connect(host, stream)
        .map_err(|e| std::io::Error::other(format!("TLS handshake: {e}")))?;
    api_keys_over(stream)
}

/// Sends `ApiVersions` v0 over `stream` and reads the keys of the answer.
fn api_keys_over(mut stream: impl Read + Write) -> std::io::Result<Vec<i16>> {
    let client_id = b"racecast-probe";
    let mut request = Vec::new();
    request.extend_from_slice(&API_VERSIONS.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes()); // version 0
    request.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    stream.write_all(&(request.len() as i32).to_be_bytes())?;
    stream.write_all(&request)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(10..=1 << 20).contains(&size) {
        return Err(std::io::Error::other(format!(
            "ApiVersions response of {size} bytes"
        )));
    }
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body)?;
    let int16 = |at: usize| body.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let error = int16(4).unwrap_or(-1);
    if error != 0 {
        return Err(std::io::Error::other(format!("ApiVersions error code {error}")));
    }
    let count = body
        .get(6..10)
        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .max(0) as usize;
    Ok((0..count).filter_map(|i| int16(10 + 6 * i)).collect())
}

/// How racecast creates its topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicSettings {
    /// Replicas of each partition.
    pub replication_factor: i32,
    /// `min.insync.replicas` of the topic (the broker's default when
    /// `None`).
    pub min_insync_replicas: Option<u32>,
    /// `retention.ms=-1` and `retention.bytes=-1`: the broker keeps every
    /// record (change and progress topics, which are folded from their
    /// first record); the broker's default retention when `false`.
    pub keep_every_record: bool,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            replication_factor: 1,
            min_insync_replicas: None,
            keep_every_record: false,
        }
    }
}

/// The cluster's metadata (every topic when `topic` is `None`), or why the
/// brokers could not be reached: librdkafka's own reason when it gave one
/// (a refused password, an untrusted certificate). librdkafka queues what
/// it reports on the client's event queue, which nobody polls while a
/// metadata request waits: on failure, the queue is served for a moment so
/// that the reason reaches the [`Recorder`].
pub fn fetch_metadata(
    consumer: &BaseConsumer<Recorder>,
    kafka: &KafkaClient,
    topic: Option<&str>,
) -> Result<Metadata, KafkaError> {
    consumer.fetch_metadata(topic, REQUEST_TIMEOUT).map_err(|e| {
        let until = std::time::Instant::now() + Duration::from_millis(300);
        while std::time::Instant::now() < until {
            // Serves logs and errors; no partition is assigned here, so no
            // record comes.
            let _ = consumer.poll(Duration::from_millis(50));
        }
        KafkaError::Unreachable {
            brokers: kafka.brokers.clone(),
            reason: match consumer.context().last_error() {
                Some(cause) => format!("{e}; the client reported: {cause}"),
                None => e.to_string(),
            },
        }
    })
}

/// A consumer with a [`Recorder`] (for metadata, and to learn why a
/// connection fails).
pub fn consumer(client: &KafkaClient, group: &str) -> Result<BaseConsumer<Recorder>, KafkaError> {
    client
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create_with_context(Recorder::default())
        .map_err(KafkaError::client("creating a consumer"))
}

/// An existing topic with fewer partitions or replicas than asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmallerTopic {
    /// The topic.
    pub topic: String,
    /// Its partitions, and how many were asked for.
    pub partitions: (i32, i32),
    /// The fewest replicas of any of its partitions, and how many were
    /// asked for.
    pub replicas: (i32, i32),
}

impl std::fmt::Display for SmallerTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "topic \"{}\" exists with {} partitions and {} replicas ({} and {} asked for): used as it is",
            self.topic, self.partitions.0, self.replicas.0, self.partitions.1, self.replicas.1
        )
    }
}

/// Creates every topic of `topics` (name, partitions) that does not exist,
/// with `settings`. An existing one is used as it is: those with fewer
/// partitions or replicas than asked are returned (and logged as a
/// warning), not silently used.
pub fn ensure_topics(
    client: &KafkaClient,
    topics: &[(&str, i32)],
    settings: &TopicSettings,
) -> Result<Vec<SmallerTopic>, KafkaError> {
    let metadata = fetch_metadata(&consumer(client, "racecast-admin")?, client, None)?;
    let admin: AdminClient<Recorder> = client
        .config()
        .create_with_context(Recorder::default())
        .map_err(KafkaError::client("creating an admin client"))?;
    let existing = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
    };
    let mut smaller = Vec::new();
    for (name, partitions) in topics {
        let Some(topic) = existing(name) else { continue };
        let replicas = topic
            .partitions()
            .iter()
            .map(|p| p.replicas().len())
            .min()
            .unwrap_or(0) as i32;
        let has = topic.partitions().len() as i32;
        if has < *partitions || replicas < settings.replication_factor {
            let topic = SmallerTopic {
                topic: (*name).to_owned(),
                partitions: (has, *partitions),
                replicas: (replicas, settings.replication_factor),
            };
            tracing::warn!("{topic}");
            smaller.push(topic);
        }
    }
    let min_insync = settings.min_insync_replicas.map(|m| m.to_string());
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|(name, _)| existing(name).is_none())
        .map(|(name, partitions)| {
            let topic = NewTopic::new(
                name,
                *partitions,
                TopicReplication::Fixed(settings.replication_factor),
            );
            let topic = match &min_insync {
                Some(m) => topic.set("min.insync.replicas", m),
                None => topic,
            };
            if settings.keep_every_record {
                topic.set("retention.ms", "-1").set("retention.bytes", "-1")
            } else {
                topic
            }
        })
        .collect();
    if new.is_empty() {
        return Ok(smaller);
    }
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let results = crate::host::runtime()
        .block_on(admin.create_topics(&new, &options))
        .map_err(KafkaError::client("creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::Client {
                    context: format!("creating topic \"{topic}\""),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(smaller)
}

/// The number of partitions of `topic`, or [`KafkaError::NoTopic`].
pub fn partition_count(
    consumer: &BaseConsumer<Recorder>,
    client: &KafkaClient,
    topic: &str,
) -> Result<i32, KafkaError> {
    let metadata = fetch_metadata(consumer, client, Some(topic))?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len() as i32),
        _ => Err(KafkaError::NoTopic(topic.to_owned())),
    }
}
