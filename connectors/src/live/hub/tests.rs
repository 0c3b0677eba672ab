//! The hub's promises: a subscription never misses or repeats an epoch
//! (snapshot, then every later event), `Last-Event-ID` replays exactly the
//! events missed while they are kept, a client that falls behind is left
//! out and starts over from a snapshot, the end reaches every client, and
//! only clients that take frames count as progressing (what a stopping
//! server waits for).

use super::*;
use crate::live::sse::ClientStream;

fn change(insert: bool, car: u8, lap: u8, text: &str) -> Change {
    Change {
        insert,
        session_id: Symbol::intern("s1"),
        car_number: car,
        lap,
        row: Arc::from(text),
    }
}

/// Publishes epoch `epoch`: lap `lap` of car `car` moves from `old` to `new`.
fn publish(hub: &LiveHub, epoch: u64, car: u8, old: Option<&str>, new: &str) {
    let mut laps = Vec::new();
    if let Some(old) = old {
        laps.push(change(false, car, 1, old));
    }
    laps.push(change(true, car, 1, new));
    hub.publish(
        epoch,
        [(View::Laps, laps), (View::Sessions, Vec::new())],
        10,
        Vec::new(),
    );
}

fn text(frame: &Bytes) -> String {
    String::from_utf8(frame.to_vec()).expect("utf-8")
}

/// The data of an SSE frame, parsed.
fn data(frame: &Bytes) -> serde_json::Value {
    let text = text(frame);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    serde_json::from_str(line).expect("JSON")
}

fn received(queue: &mut mpsc::Receiver<Message>) -> Vec<u64> {
    let mut epochs = Vec::new();
    while let Ok(Message::Event(e)) = queue.try_recv() {
        epochs.push(e.epoch);
    }
    epochs
}

#[test]
fn a_subscription_starts_at_a_snapshot_and_misses_nothing_after_it() {
    let hub = LiveHub::new("run-1", None);
    publish(&hub, 1, 7, None, "{\"v\":1}");
    let mut first = hub.subscribe(View::Laps, &Filter::default(), None);
    let snapshot = data(&first.first[0]);
    assert_eq!(snapshot["snapshot"], true);
    assert_eq!(snapshot["epoch"], 1);
    assert_eq!(snapshot["changes"][0]["row"]["v"], 1);
    publish(&hub, 2, 7, Some("{\"v\":1}"), "{\"v\":2}");
    publish(&hub, 3, 8, None, "{\"v\":3}");
    let queue = first.queue.as_mut().expect("a queue");
    assert_eq!(received(queue), vec![2, 3]);
    let answer: serde_json::Value =
        serde_json::from_str(&hub.rows_answer(View::Laps, &Filter::default())).expect("JSON");
    assert_eq!(answer["epoch"], 3);
    assert_eq!(answer["rows"], serde_json::json!([{"v": 2}, {"v": 3}]));
}

#[test]
fn last_event_id_replays_exactly_the_missed_events_else_a_snapshot() {
    let hub = LiveHub::new("run-1", None);
    publish(&hub, 1, 7, None, "{\"v\":1}");
    publish(&hub, 2, 7, Some("{\"v\":1}"), "{\"v\":2}");
    publish(&hub, 3, 7, Some("{\"v\":2}"), "{\"v\":3}");
    let id = frames::event_id(hub.run(), 1);
    let resumed = hub.subscribe(View::Laps, &Filter::default(), Some(&id));
    let epochs: Vec<u64> = resumed
        .first
        .iter()
        .map(|f| data(f)["epoch"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(epochs, vec![2, 3], "the events after epoch 1");
    assert!(resumed.first.iter().all(|f| data(f).get("snapshot").is_none()));
    for unknown in ["other-run.1", "garbage", &frames::event_id(hub.run(), 99)] {
        let fresh = hub.subscribe(View::Laps, &Filter::default(), Some(unknown));
        assert_eq!(fresh.first.len(), 1, "{unknown}: one snapshot");
        assert_eq!(data(&fresh.first[0])["snapshot"], true, "{unknown}");
    }
}

#[test]
fn a_pruned_history_answers_with_a_snapshot() {
    let hub = LiveHub::new("run-1", None);
    let mut old: Option<String> = None;
    for epoch in 1..=(HISTORY_EVENTS as u64 + 10) {
        let new = format!("{{\"v\":{epoch}}}");
        publish(&hub, epoch, 7, old.as_deref(), &new);
        old = Some(new);
    }
    let stale = hub.subscribe(
        View::Laps,
        &Filter::default(),
        Some(&frames::event_id(hub.run(), 2)),
    );
    assert_eq!(
        data(&stale.first[0])["snapshot"],
        true,
        "epoch 3 is gone: a snapshot"
    );
    let recent = frames::event_id(hub.run(), HISTORY_EVENTS as u64);
    let replay = hub.subscribe(View::Laps, &Filter::default(), Some(&recent));
    assert_eq!(replay.first.len(), 10);
}

#[test]
fn filters_admit_their_rows_only() {
    let hub = LiveHub::new("run-1", None);
    publish(&hub, 1, 7, None, "{\"car\":7}");
    let filter = Filter {
        session_id: None,
        car_number: Some(8),
    };
    let mut eight = hub.subscribe(View::Laps, &filter, None);
    assert_eq!(data(&eight.first[0])["changes"], serde_json::json!([]));
    publish(&hub, 2, 7, Some("{\"car\":7}"), "{\"car\":7,\"x\":1}");
    publish(&hub, 3, 8, None, "{\"car\":8}");
    let queue = eight.queue.as_mut().expect("a queue");
    assert_eq!(received(queue), vec![3], "car 7's change is not offered");
}

#[tokio::test]
async fn a_client_that_falls_behind_drains_its_queue_then_starts_over_from_a_snapshot() {
    let hub = Arc::new(LiveHub::new("run-1", None));
    let mut client = ClientStream::open(Arc::clone(&hub), View::Laps, Filter::default(), None);
    let mut old: Option<String> = None;
    // Nobody reads: the queue fills, the hub leaves the client out.
    let published = CLIENT_QUEUE as u64 + 20;
    for epoch in 1..=published {
        let new = format!("{{\"v\":{epoch}}}");
        publish(&hub, epoch, 7, old.as_deref(), &new);
        old = Some(new);
    }
    assert!(
        hub.lock().views[View::Laps.index()].clients.is_empty(),
        "left out"
    );
    let mut frames = Vec::new();
    while frames.len() < CLIENT_QUEUE + 3 {
        frames.push(client.next().await.expect("a frame"));
    }
    assert_eq!(text(&frames[0]), "retry: 1000\n\n");
    assert_eq!(data(&frames[1])["snapshot"], true, "the first snapshot");
    for (i, frame) in frames[2..CLIENT_QUEUE + 2].iter().enumerate() {
        assert_eq!(data(frame)["epoch"], i as u64 + 1, "the queued events, in order");
    }
    let fresh = data(&frames[CLIENT_QUEUE + 2]);
    assert_eq!(fresh["snapshot"], true, "then a fresh snapshot");
    assert_eq!(fresh["epoch"], published);
    assert_eq!(fresh["changes"][0]["row"]["v"], published);
    assert_eq!(hub.clients(), 1);
    hub.end("the run ended");
    let end = client.next().await.expect("the end");
    assert!(text(&end).contains("event: end"), "{}", text(&end));
    assert!(client.next().await.is_none(), "then nothing");
    drop(client);
    assert_eq!(hub.clients(), 0);
}

#[test]
fn after_the_end_a_subscription_gets_the_final_snapshot_and_the_end() {
    let hub = LiveHub::new("run-1", None);
    publish(&hub, 1, 7, None, "{\"v\":1}");
    hub.end("the run ended");
    let late = hub.subscribe(View::Laps, &Filter::default(), None);
    assert!(late.queue.is_none());
    assert_eq!(late.first.len(), 2);
    assert!(
        text(&late.first[1]).starts_with(&format!("id: {}\nevent: end\n", frames::event_id(hub.run(), 1)))
    );
    assert!(hub.health().ended);
}

/// A stopping server waits for the clients that still take frames: one
/// that reads to its end is seen progressing until it leaves; one that
/// never reads is not, while it stays connected.
#[tokio::test]
async fn only_clients_that_take_frames_count_as_progressing() {
    let hub = Arc::new(LiveHub::new("run-1", None));
    let window = Duration::from_millis(100);
    let stuck = ClientStream::open(Arc::clone(&hub), View::Laps, Filter::default(), None);
    let mut reader = ClientStream::open(Arc::clone(&hub), View::Laps, Filter::default(), None);
    std::thread::sleep(window * 2);
    assert!(!hub.clients_progressing(window), "nobody took a frame yet");
    publish(&hub, 1, 7, None, "{\"v\":1}");
    hub.end("the run ended");
    let mut last = None;
    while let Some(frame) = reader.next().await {
        last = Some(text(&frame));
    }
    assert!(
        last.is_some_and(|t| t.contains("event: end")),
        "the reader got the end"
    );
    assert!(hub.clients_progressing(window), "the reader is progressing");
    drop(reader);
    assert_eq!(hub.clients(), 1, "the stuck one is still connected");
    assert!(!hub.clients_progressing(window), "and is not progressing");
    drop(stuck);
    assert_eq!(hub.clients(), 0);
}
