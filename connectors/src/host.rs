//! What the adapters take from the host: the wall clock (ingest times,
//! commit times, lag) and a tokio runtime to run deltalake's and the admin
//! client's async calls from the synchronous timely workers.

/// The wall clock, Unix epoch milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A current-thread tokio runtime: each worker blocks on its own calls,
/// so no thread pool is needed.
#[cfg(any(feature = "delta", feature = "metrics"))]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime starts")
}
