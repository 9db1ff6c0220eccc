//! SQS notification mode: S3 `ObjectCreated` notifications (sent directly, or wrapped in an
//! SNS envelope) name the new objects; they are read through the ingest pipeline and a
//! message is deleted only after every file it names is committed. Visibility is extended
//! while files are read, so a long file is not handed to another consumer meanwhile. Test
//! events and digests are acknowledged and ignored. Several processes may read one queue:
//! SQS hands each message to one of them at a time, and the files table catches redeliveries.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use trailwatch_cloudtrail::{KeyKind, LogKey};
use trailwatch_ingest::{Detection, Discovered, IngestOptions, Observer, Progress};
use trailwatch_store::{EventStore, State};

use crate::error::{aws_error, Result};
use crate::fetch::{object_url, Counters, S3Objects};
use crate::poll::{Poller, Watched, SOURCE};

/// Messages taken per poll at most (10 per receive).
const MAX_MESSAGES: usize = 1000;
/// How long a received message stays hidden from other consumers; extended every third of it
/// while its files are read.
const VISIBILITY_SECS: i32 = 120;

/// What one queue poll did.
#[derive(Debug, Clone, Default)]
pub struct QueuePoll {
    pub queue: String,
    pub messages: u64,
    pub deleted: u64,
    pub ignored: u64,
    pub files_new: u64,
    pub files_known: u64,
    /// Messages that are not S3 notifications (left for the dead-letter queue).
    pub bad: Vec<String>,
    pub requests: u64,
    pub progress: Progress,
}

struct Message {
    receipt: String,
    files: Vec<String>,
}

/// Reads the queue until it is empty (or [`MAX_MESSAGES`]), ingests the files named, then
/// deletes the messages whose files are all stored.
#[allow(clippy::too_many_arguments)]
pub(crate) fn poll_queue(
    p: &Poller,
    w: &Watched,
    queue: &str,
    store: &dyn EventStore,
    state: &mut State,
    options: &IngestOptions,
    observer: &dyn Observer,
    mut detection: Option<&mut Detection>,
) -> Result<QueuePoll> {
    let region = queue_region(queue)
        .unwrap_or_else(|| w.account.regions.first().cloned().unwrap_or("us-east-1".into()));
    let sqs = w.clients.sqs(&region);
    let mut out = QueuePoll { queue: queue.to_owned(), ..Default::default() };
    let mut messages: Vec<Message> = Vec::new();
    let mut todo: BTreeMap<String, Vec<Discovered>> = BTreeMap::new();
    let mut queued: HashSet<String> = HashSet::new();
    while messages.len() < MAX_MESSAGES {
        out.requests += 1;
        let got =
            p.rt.block_on(
                sqs.receive_message()
                    .queue_url(queue)
                    .max_number_of_messages(10)
                    .visibility_timeout(VISIBILITY_SECS)
                    .wait_time_seconds(1)
                    .send(),
            )
            .map_err(|e| aws_error(format!("sqs:ReceiveMessage on {queue}"), &e))?;
        let batch = got.messages();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            out.messages += 1;
            let Some(receipt) = m.receipt_handle() else { continue };
            let body = m.body().unwrap_or("");
            let mut files = Vec::new();
            match parse_body(body) {
                Ok(Body::Ignore(_)) => out.ignored += 1,
                Ok(Body::Objects(objects)) => {
                    for o in objects {
                        let key = LogKey::parse(&o.key);
                        if key.as_ref().is_none_or(|k| k.kind == KeyKind::Digest) {
                            continue;
                        }
                        let url = object_url(&o.bucket, &o.key);
                        match state.file(SOURCE, &url)? {
                            Some(k) if k.error.is_none() || k.events > 0 => out.files_known += 1,
                            _ => {
                                files.push(url.clone());
                                if queued.insert(url.clone()) {
                                    todo.entry(o.bucket.clone()).or_default().push(Discovered {
                                        path: PathBuf::from(url),
                                        size: o.size,
                                        modified: 0,
                                        key,
                                    });
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    out.bad.push(format!("message {}: {e}", m.message_id().unwrap_or("?")));
                    continue;
                }
            }
            messages.push(Message { receipt: receipt.to_owned(), files });
        }
    }
    // Keep the messages hidden while their files are read.
    let done = Arc::new(AtomicBool::new(false));
    let receipts: Vec<String> = messages.iter().map(|m| m.receipt.clone()).collect();
    let keeper = {
        let (done, sqs, queue) = (done.clone(), sqs.clone(), queue.to_owned());
        p.rt.spawn(async move {
            let every = Duration::from_secs(VISIBILITY_SECS as u64 / 3);
            loop {
                let t = tokio::time::Instant::now();
                while t.elapsed() < every {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                for r in &receipts {
                    let _ = sqs
                        .change_message_visibility()
                        .queue_url(&queue)
                        .receipt_handle(r)
                        .visibility_timeout(VISIBILITY_SECS)
                        .send()
                        .await;
                }
            }
        })
    };
    let failed: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let mut stored: HashSet<String> = HashSet::new();
    let mut result: Result<()> = Ok(());
    for (bucket, files) in todo {
        out.files_new += files.len() as u64;
        let client = p.bucket_client(w, &bucket);
        let counters = Arc::new(Counters::default());
        let opener = S3Objects { handle: p.rt.handle().clone(), client, counters };
        let names: Vec<String> = files.iter().map(|f| f.path.to_string_lossy().into_owned()).collect();
        match trailwatch_ingest::ingest_files(
            files,
            &opener,
            Progress::default(),
            store,
            state,
            options,
            observer,
            detection.as_deref_mut(),
        ) {
            Ok(summary) => {
                add(&mut out.progress, &summary.progress);
                for n in names {
                    match state.file(SOURCE, &n)? {
                        Some(r) if r.error.is_none() => {
                            stored.insert(n);
                        }
                        _ => {
                            failed.lock().unwrap_or_else(|e| e.into_inner()).insert(n);
                        }
                    }
                }
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = p.rt.block_on(keeper);
    result?;
    // Only messages whose every file is stored are deleted; the others come back after their
    // visibility timeout (and go to the dead-letter queue after the receive count).
    for m in &messages {
        let all_stored = m.files.iter().all(|f| {
            stored.contains(f) || state.file(SOURCE, f).ok().flatten().is_some_and(|r| r.error.is_none())
        });
        if !all_stored {
            continue;
        }
        out.requests += 1;
        p.rt.block_on(sqs.delete_message().queue_url(queue).receipt_handle(&m.receipt).send())
            .map_err(|e| aws_error(format!("sqs:DeleteMessage on {queue}"), &e))?;
        out.deleted += 1;
    }
    Ok(out)
}

fn add(a: &mut Progress, b: &Progress) {
    a.files_total += b.files_total;
    a.files_done += b.files_done;
    a.files_failed += b.files_failed;
    a.events_read += b.events_read;
    a.events_excluded += b.events_excluded;
    a.events_added += b.events_added;
    a.duplicates += b.duplicates;
    a.records_rejected += b.records_rejected;
    a.bytes_read += b.bytes_read;
}

/// One object a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub bucket: String,
    /// URL-decoded (`+` is a space).
    pub key: String,
    pub size: u64,
}

/// What a message body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Objects(Vec<Notified>),
    /// `s3:TestEvent`, or notifications of other kinds (deletes): acknowledged, nothing to read.
    Ignore(&'static str),
}

/// Parses a message body. An error says why it is not a notification (the message stays, and
/// goes to the dead-letter queue after the queue's receive count).
pub fn parse_body(body: &str) -> Result<Body, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    // SNS envelope: the S3 event is the `Message` string.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v.get("Message").and_then(Value::as_str).ok_or("SNS notification without a Message")?;
        return parse_body(inner);
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Body::Ignore("s3:TestEvent"));
    }
    let records = v.get("Records").and_then(Value::as_array).ok_or("no Records: not an S3 notification")?;
    let mut out = Vec::new();
    for r in records {
        let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
        if !name.starts_with("ObjectCreated:") {
            continue;
        }
        let s3 = r.get("s3").ok_or("record without s3")?;
        let bucket =
            s3.pointer("/bucket/name").and_then(Value::as_str).ok_or("record without s3.bucket.name")?;
        let key = s3.pointer("/object/key").and_then(Value::as_str).ok_or("record without s3.object.key")?;
        let size = s3.pointer("/object/size").and_then(Value::as_u64).unwrap_or(0);
        out.push(Notified { bucket: bucket.to_owned(), key: url_decode(key), size });
    }
    if out.is_empty() {
        return Ok(Body::Ignore("no ObjectCreated records"));
    }
    Ok(Body::Objects(out))
}

/// Decodes an S3 notification key: `%XX` escapes and `+` for a space. A bad escape is kept as is.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The region in a queue URL (`https://sqs.<region>.amazonaws.com/…`), if it names one.
pub fn queue_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(r)) if r.contains('-') => Some(r.to_owned()),
        (Some(r), Some("queue")) if r.contains('-') => Some(r.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let direct = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs%2F1+2.json.gz","size":7}}}]}"#;
        let want =
            Body::Objects(vec![Notified { bucket: "b".into(), key: "AWSLogs/1 2.json.gz".into(), size: 7 }]);
        assert_eq!(parse_body(direct).unwrap(), want);
        let sns = serde_json::json!({"Type": "Notification", "Message": direct}).to_string();
        assert_eq!(parse_body(&sns).unwrap(), want);
        assert_eq!(
            parse_body(r#"{"Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            Body::Ignore("s3:TestEvent")
        );
        assert!(matches!(
            parse_body(r#"{"Records":[{"eventName":"ObjectRemoved:Delete"}]}"#).unwrap(),
            Body::Ignore(_)
        ));
        assert!(parse_body("nope").is_err());
        assert!(parse_body("{}").is_err());
    }

    #[test]
    fn decoding() {
        assert_eq!(url_decode("a%2Fb+c%20d"), "a/b c d");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
        assert_eq!(queue_region("https://sqs.eu-west-1.amazonaws.com/1/q").as_deref(), Some("eu-west-1"));
        assert_eq!(queue_region("http://127.0.0.1:5000/123456789012/q"), None);
    }
}
