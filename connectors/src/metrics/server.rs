//! [`MetricsServer`]: serves a process's [`Metrics`] over HTTP (hyper) at
//! `GET /metrics`, in the OpenMetrics text format that Prometheus scrapes,
//! on its own thread so that a busy or stuck dataflow still answers.
//!
//! The socket is bound before the server returns, so a taken or invalid
//! address fails the run at once with a clear error. Dropping the server
//! stops it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::Metrics;

/// The OpenMetrics content type; Prometheus picks its parser by it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("could not serve metrics on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server thread could not start.
    #[error("could not start the metrics server")]
    Start(#[source] std::io::Error),
}

/// A running `/metrics` endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `metrics` until dropped.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MetricsError> {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| MetricsError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(listener, metrics, stopped))
            .map_err(MetricsError::Start)?;
        Ok(MetricsServer {
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

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, metrics: Arc<Metrics>, mut stopped: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            warn(&format!("metrics server: no runtime: {e}"));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                warn(&format!("metrics server: {e}"));
                return;
            }
        };
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A failed accept (e.g. too many open files) is not fatal.
                    Err(_) => continue,
                },
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = service_fn(move |request| respond(request, Arc::clone(&metrics)));
                // A client that hangs up mid-request is its own problem.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn warn(message: &str) {
    eprintln!("warning: {message}");
}

async fn respond<B>(request: Request<B>, metrics: Arc<Metrics>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = |status, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    let text = "text/plain; charset=utf-8";
    Ok(match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => response(StatusCode::OK, CONTENT_TYPE, metrics.encode()),
        (&Method::GET, "/") => response(
            StatusCode::OK,
            text,
            "racecast: metrics at /metrics (OpenMetrics text)\n".into(),
        ),
        (&Method::GET, _) => response(StatusCode::NOT_FOUND, text, "not found: try /metrics\n".into()),
        _ => response(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            "only GET is served\n".into(),
        ),
    })
}
