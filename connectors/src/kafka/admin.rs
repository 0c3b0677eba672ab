//! Topic creation and metadata, and a probe of what the brokers support.
//!
//! The probe sends one `ApiVersions` request (v0) over plain TCP and reads
//! the API keys the broker advertises: `--kafka-transactions auto` uses
//! transactions only where `EndTxn` is advertised (tansu 0.6 advertises
//! the rest of the transactional API but not `EndTxn`, so a producer there
//! would fail at its first commit).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

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
    pub fn probe(brokers: &str) -> Result<BrokerFeatures, KafkaError> {
        let mut last = String::from("no bootstrap server given");
        for server in brokers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match api_keys(server) {
                Ok(api_keys) => return Ok(BrokerFeatures { api_keys }),
                Err(e) => last = format!("{server}: {e}"),
            }
        }
        Err(KafkaError::Unreachable {
            brokers: brokers.to_owned(),
            reason: last,
        })
    }

    /// Whether a transaction can be committed (`EndTxn` is advertised).
    pub fn transactions(&self) -> bool {
        self.api_keys.contains(&END_TXN)
    }
}

fn api_keys(server: &str) -> std::io::Result<Vec<i16>> {
    let addr = server
        .trim_start_matches("tcp://")
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
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

/// A client configuration for `brokers` with racecast's defaults.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "racecast")
        .set("log_level", "3");
    config
}

/// Creates every topic of `topics` (name, partitions) that does not exist.
pub fn ensure_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .map_err(KafkaError::client("creating an admin client"))?;
    let metadata =
        admin
            .inner()
            .fetch_metadata(None, REQUEST_TIMEOUT)
            .map_err(|e| KafkaError::Unreachable {
                brokers: brokers.to_owned(),
                reason: e.to_string(),
            })?;
    let exists = |name: &str| {
        metadata
            .topics()
            .iter()
            .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
    };
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|(name, _)| !exists(name))
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    if new.is_empty() {
        return Ok(());
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
    Ok(())
}

/// The number of partitions of `topic`, or [`KafkaError::NoTopic`].
pub fn partition_count(consumer: &BaseConsumer, brokers: &str, topic: &str) -> Result<i32, KafkaError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| KafkaError::Unreachable {
            brokers: brokers.to_owned(),
            reason: e.to_string(),
        })?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len() as i32),
        _ => Err(KafkaError::NoTopic(topic.to_owned())),
    }
}
