//! S3 locations (`s3://bucket/prefix`): object_store's S3 client,
//! configured from the usual `AWS_*` variables (`AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP` for a local server…) and then `--storage-option
//! KEY=VALUE` (object_store's key names, with or without `aws_`).
//!
//! Commits need conditional put (`If-None-Match: *`, object_store's
//! default for S3): two writers of one version cannot both succeed.
//! Transient failures (5xx, timeouts) are retried with backoff up to
//! [`RETRY_TIMEOUT`] in all; then the call fails and names the object.
//!
//! [`location`] checks the bucket before it returns (one list request):
//! an unreachable endpoint, wrong credentials or a missing bucket fail at
//! start, before any write. Credentials are never printed.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};
use std::time::Duration;

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::{Location, StorageError, blocking};

/// The longest a call keeps retrying transient failures.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the check at start keeps retrying.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Retries of one call, at most.
const MAX_RETRIES: usize = 16;

/// The S3 location `url` with `options` over the environment's `AWS_*`
/// variables, checked: the bucket answers a list request.
pub fn location(url: Url, options: &BTreeMap<String, String>) -> Result<Location, StorageError> {
    register_log_stores();
    let bucket = url.host_str().unwrap_or_default().to_owned();
    if bucket.is_empty() {
        return Err(StorageError::BadLocation {
            text: url.to_string(),
            detail: "no bucket (s3://bucket/prefix)".to_owned(),
        });
    }
    // No idle connections kept: the store is called from several tokio
    // runtimes (each worker's, the I/O runtime, short-lived ones at
    // start), and a pooled connection dies with the runtime that opened it
    // ("runtime dropped the dispatch task"). A connection per request is
    // the price (cheap on a LAN; a TLS handshake each against AWS).
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket).with_config(
        AmazonS3ConfigKey::Client(ClientConfigKey::PoolMaxIdlePerHost),
        "0",
    );
    for (key, value) in options {
        let lower = key.to_ascii_lowercase();
        let parsed = lower
            .parse::<AmazonS3ConfigKey>()
            .or_else(|_| format!("aws_{lower}").parse::<AmazonS3ConfigKey>())
            .map_err(|_| StorageError::UnknownOption(key.clone()))?;
        builder = builder.with_config(parsed, value);
    }
    let build = |retry: RetryConfig| {
        builder
            .clone()
            .with_retry(retry)
            .build()
            .map_err(|source| StorageError::Object {
                operation: "configure a client for",
                object: format!("s3://{bucket}/"),
                source: Box::new(source),
            })
    };
    let prefix = ObjectPath::from(url.path().trim_matches('/'));
    // The check gives up sooner than a run's calls: at start, a failure is
    // a wrong setting far more often than a passing fault.
    let checker = build(RetryConfig {
        max_retries: 1,
        retry_timeout: CHECK_TIMEOUT,
        ..RetryConfig::default()
    })?;
    check(checker, &url, &prefix)?;
    let store: Arc<dyn ObjectStore> = Arc::new(build(RetryConfig {
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
        ..RetryConfig::default()
    })?);
    Ok(Location::on_store(store, url, prefix))
}

/// One list request under the prefix: fails on a wrong endpoint,
/// credentials or bucket.
fn check(store: impl ObjectStore, url: &Url, prefix: &ObjectPath) -> Result<(), StorageError> {
    let prefix = prefix.clone();
    let listed = blocking::wait(async move { store.list_with_delimiter(Some(&prefix)).await.map(|_| ()) })?;
    listed.map_err(|source| StorageError::Object {
        operation: "list",
        object: url.to_string(),
        source: Box::new(source),
    })
}

/// deltalake's commits to an S3 table: its default log store, whose
/// commit is a conditional put of the next version's file (no DynamoDB
/// lock). deltalake finds a log store by the table URL's scheme, and its
/// own S3 support (the `s3` feature, with the AWS SDK) is not built in.
struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let factory: Arc<dyn LogStoreFactory> = Arc::new(ConditionalPutLogStores);
        for scheme in ["s3://", "s3a://"] {
            if let Ok(url) = Url::parse(scheme) {
                logstore_factories().insert(url, Arc::clone(&factory));
            }
        }
    });
}
