//! One client's Server-Sent Events stream: its first frames (a snapshot,
//! or the events it missed), then each event from its queue, keep-alives
//! while nothing changes, and the end frame when the run ends.
//!
//! A client that fell behind (its queue was full, so the hub left it out)
//! drains what it had queued, then starts over with a fresh snapshot: it
//! never sees a gap, and never holds more than one queue of events. Each
//! frame it hands out is recorded as its progress: a stopping server
//! waits only for clients that are still taking frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::sync::mpsc;

use super::frames::{KEEP_ALIVE, RETRY};
use super::hub::{LiveHub, Message, Subscription, frame_for};
use super::{Filter, View};
use crate::host::now_ms;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(10);

/// One client's stream of SSE frames.
pub struct ClientStream {
    hub: Arc<LiveHub>,
    view: View,
    filter: Filter,
    pending: VecDeque<Bytes>,
    queue: Option<mpsc::Receiver<Message>>,
    lagged: Arc<std::sync::atomic::AtomicBool>,
    done: bool,
    keep_alive: tokio::time::Interval,
    /// When it last handed out a frame (Unix ms), for the hub.
    progress: Arc<AtomicI64>,
}

impl ClientStream {
    /// Subscribes a client of `view` (resuming after `last_event_id` when
    /// the hub still has what followed it).
    pub fn open(hub: Arc<LiveHub>, view: View, filter: Filter, last_event_id: Option<&str>) -> ClientStream {
        let subscription = hub.subscribe(view, &filter, last_event_id);
        let progress = Arc::new(AtomicI64::new(now_ms()));
        hub.client_connected(&progress);
        let mut keep_alive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE_EVERY, KEEP_ALIVE_EVERY);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stream = ClientStream {
            hub,
            view,
            filter,
            pending: VecDeque::new(),
            queue: None,
            lagged: Arc::default(),
            done: false,
            keep_alive,
            progress,
        };
        stream.pending.push_back(Bytes::from_static(RETRY));
        stream.start(subscription);
        stream
    }

    fn start(&mut self, subscription: Subscription) {
        self.pending.extend(subscription.first);
        self.done = subscription.queue.is_none();
        self.queue = subscription.queue;
        self.lagged = subscription.lagged;
    }

    /// The next frame; `None` once the stream is over.
    pub async fn next(&mut self) -> Option<Bytes> {
        let frame = self.next_frame().await;
        if frame.is_some() {
            self.progress.store(now_ms(), Ordering::Release);
        }
        frame
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.done {
                return None;
            }
            let Some(queue) = self.queue.as_mut() else {
                self.done = true;
                continue;
            };
            tokio::select! {
                message = queue.recv() => match message {
                    Some(Message::Event(event)) => {
                        if let Some(frame) = frame_for(self.hub.run(), &event, &self.filter) {
                            self.keep_alive.reset();
                            return Some(frame);
                        }
                    }
                    Some(Message::End(frame)) => {
                        self.done = true;
                        return Some(frame);
                    }
                    None if self.lagged.load(Ordering::Acquire) => {
                        // Fell behind and drained: start over from a snapshot.
                        let subscription = self.hub.subscribe(self.view, &self.filter, None);
                        self.start(subscription);
                    }
                    None => self.done = true,
                },
                _ = self.keep_alive.tick() => return Some(Bytes::from_static(KEEP_ALIVE)),
            }
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.hub.client_left();
    }
}
