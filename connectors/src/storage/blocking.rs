//! Store calls from synchronous code: [`wait`] runs a future on one
//! shared multi-thread I/O runtime and blocks the calling thread until it
//! is done. Unlike `Runtime::block_on` this may be called from inside
//! another runtime (the table code runs both on timely's worker threads
//! and inside deltalake's async calls).

use std::future::Future;
use std::sync::OnceLock;

use super::StorageError;

/// Threads of the I/O runtime (store calls wait on the network or the
/// disk, not on the CPU).
const THREADS: usize = 4;

fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(THREADS)
                .thread_name("racecast-io")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Runs `future` on the I/O runtime and returns its output.
pub fn wait<F>(future: F) -> Result<F::Output, StorageError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = runtime().ok_or(StorageError::Stopped)?;
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The receiver only goes away with the caller.
        let _ = send.send(future.await);
    });
    receive.recv().map_err(|_| StorageError::Stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_from_plain_threads_and_from_inside_a_runtime() {
        assert_eq!(wait(async { 1 + 1 }).expect("ran"), 2);
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let inside = outer.block_on(async { wait(async { 3 }) });
        assert_eq!(inside.expect("ran"), 3);
    }
}
