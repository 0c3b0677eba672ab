//! [`MetricsServer`]: serves a process's [`Metrics`] over HTTP (hyper) at
//! `GET /metrics`, in the OpenMetrics text format that Prometheus scrapes,
//! on its own thread ([`HttpThread`]) so that a busy or stuck dataflow
//! still answers.
//!
//! The socket is bound before the server returns, so a taken or invalid
//! address fails the run at once with a clear error. Dropping the server
//! stops it.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};

use super::Metrics;
use crate::http_thread::{Drain, HttpThread, StartError};

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
    http: HttpThread,
}

impl MetricsServer {
    /// Binds `addr` and serves `metrics` until dropped.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MetricsError> {
        let respond = move |request| respond(request, Arc::clone(&metrics));
        let http = HttpThread::start(addr, "metrics", respond, Drain::none()).map_err(|e| match e {
            StartError::Bind(source) => MetricsError::Bind { addr, source },
            StartError::Thread(source) => MetricsError::Start(source),
        })?;
        Ok(MetricsServer { http })
    }

    /// The address it listens on (with the actual port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }
}

async fn respond<B>(request: Request<B>, metrics: Arc<Metrics>) -> Response<Full<Bytes>> {
    let response = |status, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    let text = "text/plain; charset=utf-8";
    match (request.method(), request.uri().path()) {
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
    }
}
