//! [`HttpThread`]: an HTTP/1 server (hyper) on a thread of its own, with a
//! current-thread tokio runtime, so that neither a slow client nor a busy
//! dataflow holds up the other. The `/metrics` endpoint and the live views
//! both run on one.
//!
//! The socket is bound before [`HttpThread::start`] returns, so a taken or
//! invalid address fails the caller at once. Dropping the server stops
//! accepting connections, lets the open ones go on while the caller's
//! `busy` says so (for up to its `drain`), then stops the thread.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// Why a server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The address could not be bound.
    Bind(std::io::Error),
    /// The thread could not start.
    Thread(std::io::Error),
}

/// How long open connections may go on after a stop, and while what.
pub struct Drain {
    /// At most this long.
    pub within: Duration,
    /// While this says there is still something to send.
    pub busy: Box<dyn Fn() -> bool + Send>,
}

impl Drain {
    /// No draining: the thread stops with the accept loop.
    pub fn none() -> Drain {
        Drain {
            within: Duration::ZERO,
            busy: Box::new(|| false),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct HttpThread {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpThread {
    /// Binds `addr` and answers each request with `respond` on a thread
    /// named `name` until dropped.
    pub fn start<R, F, B>(
        addr: SocketAddr,
        name: &str,
        respond: R,
        drain: Drain,
    ) -> Result<HttpThread, StartError>
    where
        R: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = std::net::TcpListener::bind(addr).map_err(StartError::Bind)?;
        let bound = listener.local_addr().map_err(StartError::Bind)?;
        listener.set_nonblocking(true).map_err(StartError::Bind)?;
        let (stop, stopped) = oneshot::channel();
        let label = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || serve(&label, listener, respond, stopped, drain))
            .map_err(StartError::Thread)?;
        Ok(HttpThread {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the actual port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve<R, F, B>(
    name: &str,
    listener: std::net::TcpListener,
    respond: R,
    mut stopped: oneshot::Receiver<()>,
    drain: Drain,
) where
    R: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!("{name}: no runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!("{name}: {e}");
                return;
            }
        };
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A failed accept (e.g. too many open files) is not fatal.
                    Err(_) => continue,
                },
            };
            let _ = stream.set_nodelay(true);
            let respond = respond.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let answer = respond(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                // A client that hangs up is its own problem.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
        let until = Instant::now() + drain.within;
        while (drain.busy)() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
