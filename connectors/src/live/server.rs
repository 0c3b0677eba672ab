//! [`LiveServer`]: the live views over HTTP (hyper), on a thread of its
//! own ([`HttpThread`]) so that neither a slow client nor a busy dataflow
//! holds up the other:
//!
//! - `GET /`: the live timing page (`timing.html`, served from the binary);
//! - `GET /api/v1/views/{lap_metrics|session_metrics}`: the rows as of the
//!   last processed epoch, as JSON;
//! - `GET /api/v1/changes/{lap_metrics|session_metrics}`: Server-Sent
//!   Events (see [`super::sse`]);
//! - `GET /api/v1/entry_list`, `GET /api/v1/health`.
//!
//! Views and feeds take `?session_id=…&car_number=…` filters. The socket
//! is bound before the server returns, so a taken or invalid address stops
//! the run at once with a clear error. Dropping the server lets the
//! streams send their end (for up to [`DRAIN`]; a client that takes no
//! frame for `STALLED`, as a stuck one, is not waited for), then stops
//! it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};

use super::frames::error_answer;
use super::sse::ClientStream;
use super::{Filter, LiveHub, View};
use crate::http_thread::{Drain, HttpThread, StartError};

/// The live timing page.
const TIMING_PAGE: &str = include_str!("timing.html");
/// How long a stopping server waits for its streams to send their end.
pub const DRAIN: Duration = Duration::from_secs(3);
/// How long a client may take no frame while the server stops before it
/// is not waited for.
const STALLED: Duration = Duration::from_millis(250);

/// Errors of the live views' server.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The address could not be bound.
    #[error("could not serve the live views on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A thread could not start.
    #[error("could not start the live views")]
    Start(#[source] std::io::Error),
}

/// A running live-views server.
pub struct LiveServer {
    http: HttpThread,
}

impl LiveServer {
    /// Binds `addr` and serves `hub` until dropped.
    pub fn start(addr: SocketAddr, hub: Arc<LiveHub>) -> Result<LiveServer, LiveError> {
        // Once stopped, let the streams send their end frame (the hub has
        // ended): every client for `STALLED`, then those still taking
        // frames. A client that never reads would only hold the stop for
        // `DRAIN`.
        let clients = Arc::clone(&hub);
        let draining = OnceLock::new();
        let drain = Drain {
            within: DRAIN,
            busy: Box::new(move || {
                let since: &Instant = draining.get_or_init(Instant::now);
                clients.clients() > 0 && (since.elapsed() < STALLED || clients.clients_progressing(STALLED))
            }),
        };
        let respond = move |request: Request<Incoming>| {
            let answer = respond(&request, Arc::clone(&hub));
            std::future::ready(answer)
        };
        let http = HttpThread::start(addr, "live-views", respond, drain).map_err(|e| match e {
            StartError::Bind(source) => LiveError::Bind { addr, source },
            StartError::Thread(source) => LiveError::Start(source),
        })?;
        Ok(LiveServer { http })
    }

    /// The address it listens on (with the actual port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

const JSON: &str = "application/json";

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    full(status, JSON, error_answer(message))
}

fn respond<B>(request: &Request<B>, hub: Arc<LiveHub>) -> Response<Body> {
    if request.method() != Method::GET {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let path = request.uri().path();
    let filter = match filter_of(request.uri().query()) {
        Ok(filter) => filter,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let unknown = |name: &str| {
        json_error(
            StatusCode::NOT_FOUND,
            &format!("no view \"{name}\": lap_metrics or session_metrics"),
        )
    };
    if let Some(name) = path.strip_prefix("/api/v1/views/") {
        return match View::parse(name) {
            Some(view) => full(StatusCode::OK, JSON, hub.rows_answer(view, &filter)),
            None => unknown(name),
        };
    }
    if let Some(name) = path.strip_prefix("/api/v1/changes/") {
        return match View::parse(name) {
            Some(view) => {
                let last = request
                    .headers()
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok());
                events(ClientStream::open(hub, view, filter, last))
            }
            None => unknown(name),
        };
    }
    match path {
        "/" | "/index.html" => full(StatusCode::OK, "text/html; charset=utf-8", TIMING_PAGE),
        "/api/v1/entry_list" => full(StatusCode::OK, JSON, hub.entry_list_answer()),
        "/api/v1/health" => match serde_json::to_string(&hub.health()) {
            Ok(text) => full(StatusCode::OK, JSON, text),
            Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        _ => json_error(
            StatusCode::NOT_FOUND,
            "not found: try /, /api/v1/views/{view}, /api/v1/changes/{view}, /api/v1/entry_list, /api/v1/health",
        ),
    }
}

/// An SSE response streaming `client`'s frames.
fn events(client: ClientStream) -> Response<Body> {
    let frames = futures::stream::unfold(client, |mut client| async move {
        let frame = client.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(frame)), client))
    });
    let mut response = Response::new(StreamBody::new(frames.boxed()).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    headers.insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    response
}

/// The filters of a query string.
fn filter_of(query: Option<&str>) -> Result<Filter, String> {
    let mut filter = Filter::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "session_id" => filter.session_id = Some(value.into_owned()),
            "car_number" => {
                filter.car_number =
                    Some(value.parse().map_err(|_| {
                        format!("car_number must be a number from 0 to 255, not \"{value}\"")
                    })?);
            }
            other => return Err(format!("unknown parameter \"{other}\": session_id or car_number")),
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(filter_of(None), Ok(Filter::default()));
        let f = filter_of(Some("session_id=2026-R01%20x&car_number=44")).expect("valid");
        assert_eq!(f.session_id.as_deref(), Some("2026-R01 x"));
        assert_eq!(f.car_number, Some(44));
        assert!(filter_of(Some("car_number=999")).is_err());
        assert!(filter_of(Some("car=1")).is_err());
    }
}
