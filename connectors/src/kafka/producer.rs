//! [`CheckpointProducer`]: sends one checkpoint's records and returns only
//! once the brokers acknowledged every one of them (or the transaction
//! holding them committed), so that a progress record written after it
//! never names a checkpoint whose records are not all durable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::admin::BrokerFeatures;
use super::client::{KafkaClient, Recorder};
use super::{CHECKPOINT_HEADER, KafkaError, RUN_HEADER};

/// Record headers.
pub type Headers = OwnedHeaders;

/// How long a flush or a transaction commit may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether to use Kafka transactions (`--kafka-transactions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transactions {
    /// Use them when the brokers advertise `EndTxn`.
    #[default]
    Auto,
    /// Always (fail when the brokers cannot commit one).
    On,
    /// Never.
    Off,
}

impl std::str::FromStr for Transactions {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Transactions::Auto),
            "on" => Ok(Transactions::On),
            "off" => Ok(Transactions::Off),
            other => Err(format!("\"{other}\" is not one of auto, on, off")),
        }
    }
}

impl Transactions {
    /// Decides, probing the brokers when needed.
    pub fn resolve(self, client: &KafkaClient) -> Result<bool, KafkaError> {
        match self {
            Transactions::Off => Ok(false),
            Transactions::Auto => Ok(BrokerFeatures::probe(client)?.transactions()),
            Transactions::On if BrokerFeatures::probe(client)?.transactions() => Ok(true),
            Transactions::On => Err(KafkaError::NoTransactions(client.brokers.clone())),
        }
    }
}

/// Collects delivery failures, and what librdkafka reports about the
/// connection ([`Recorder`]).
#[derive(Default)]
pub struct DeliveryContext {
    failures: Mutex<(usize, Option<String>)>,
    recorder: Recorder,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.recorder.log(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.recorder.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            let mut failures = self.failures.lock().expect("lock");
            failures.0 += 1;
            failures.1.get_or_insert_with(|| error.to_string());
        }
    }
}

/// A producer of checkpoints.
pub struct CheckpointProducer {
    producer: BaseProducer<DeliveryContext>,
    transactional: bool,
    in_transaction: bool,
}

impl CheckpointProducer {
    /// A producer for `client`'s brokers; `transactional_id` makes it
    /// transactional (one transaction per checkpoint).
    pub fn new(client: &KafkaClient, transactional_id: Option<&str>) -> Result<Self, KafkaError> {
        let mut config = client.config();
        config
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("message.timeout.ms", "60000")
            // Reports for failures only: a delivered record is freed by the
            // client's own thread instead of coming back through `poll` as
            // an event per record (a record per input event on the silver
            // stream). `in_flight_count` still counts every record until
            // the broker acknowledged it.
            .set("delivery.report.only.error", "true");
        if let Some(id) = transactional_id {
            config
                .set("transactional.id", id)
                .set("transaction.timeout.ms", "60000");
        }
        let producer: BaseProducer<DeliveryContext> = config
            .create_with_context(DeliveryContext::default())
            .map_err(KafkaError::client("creating a producer"))?;
        if transactional_id.is_some() {
            producer
                .init_transactions(FLUSH_TIMEOUT)
                .map_err(KafkaError::client("initialising transactions"))?;
        }
        Ok(CheckpointProducer {
            producer,
            transactional: transactional_id.is_some(),
            in_transaction: false,
        })
    }

    /// The headers every record of checkpoint `checkpoint` written by run
    /// `run` carries.
    pub fn headers(checkpoint: u64, run: &str) -> OwnedHeaders {
        OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: CHECKPOINT_HEADER,
                value: Some(checkpoint.to_string().as_bytes()),
            })
            .insert(Header {
                key: RUN_HEADER,
                value: Some(run.as_bytes()),
            })
    }

    /// Sends one record (waiting while the local queue is full).
    pub fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        if self.transactional && !self.in_transaction {
            self.producer
                .begin_transaction()
                .map_err(KafkaError::client("beginning a transaction"))?;
            self.in_transaction = true;
        }
        let mut record = BaseRecord::to(topic).payload(value).headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(KafkaError::client(format!("producing to \"{topic}\""))(e)),
            }
        }
    }

    /// Serves delivery reports (call now and then while sending).
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every record sent since the last call is acknowledged
    /// (or commits the transaction holding them).
    pub fn finish(&mut self, checkpoint: u64) -> Result<(), KafkaError> {
        self.drain()
            .map_err(KafkaError::client(format!("flushing checkpoint {checkpoint}")))?;
        if self.in_transaction {
            self.in_transaction = false;
            self.producer
                .commit_transaction(FLUSH_TIMEOUT)
                .map_err(KafkaError::client(format!("committing checkpoint {checkpoint}")))?;
        }
        let mut failures = self.producer.context().failures.lock().expect("lock");
        if failures.0 > 0 {
            let (count, first) = std::mem::take(&mut *failures);
            return Err(KafkaError::Delivery {
                checkpoint,
                count,
                first: first.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Sends what is queued at once and serves delivery reports until every
    /// record sent has its report. (rdkafka's own `flush` waits in 100 ms
    /// polls that always run to their end: at least 100 ms per flush, which
    /// was most of a checkpoint's latency.)
    fn drain(&self) -> Result<(), rdkafka::error::KafkaError> {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        // A zero-timeout flush asks librdkafka to send what lingers now; it
        // reports a timeout whenever records are still in flight.
        let _ = self.producer.flush(Duration::ZERO);
        while self.producer.in_flight_count() > 0 {
            if Instant::now() >= deadline {
                return Err(rdkafka::error::KafkaError::Flush(
                    RDKafkaErrorCode::OperationTimedOut,
                ));
            }
            self.producer.poll(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Whether records go through transactions.
    pub fn transactional(&self) -> bool {
        self.transactional
    }
}
