//! SQS notification mode against moto: S3 → SQS notifications, an SNS envelope, a test event,
//! a key with a space, and two consumers sharing one queue.

mod support;

use std::collections::HashSet;

use support::*;
use trailwatch_aws::poll::Poller;
use trailwatch_ingest::{IngestOptions, Observer};
use trailwatch_store::{EmbeddedStore, EventStore, State, StoreOptions};

struct Quiet;
impl Observer for Quiet {}

fn ids(store: &EmbeddedStore) -> Vec<String> {
    let request = trailwatch_store::SearchRequest {
        query: trailwatch_query::Query::All,
        range: Default::default(),
        limit: 100_000,
        offset: 0,
        order: Default::default(),
    };
    store.search(&request).unwrap().events.into_iter().map(|e| e.event.id).collect()
}

#[test]
fn two_consumers_share_a_queue_without_duplicates() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let root = format!("AWSLogs/{ACCOUNT}/");
    let files = 24;
    let queue = rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        let c = s3(&east);
        bucket(&c, "logs", "us-east-1").await;
        let sqs = aws_sdk_sqs::Client::new(&east);
        let q = sqs.create_queue().queue_name("objects").send().await.unwrap().queue_url().unwrap().to_owned();
        let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:objects");
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        c.put_bucket_notification_configuration()
            .bucket("logs")
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder().queue_arn(arn).events(Event::S3ObjectCreated).build().unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        for i in 0..files {
            let hhmm = format!("{:02}{:02}", 8 + i / 12, (i % 12) * 5);
            // One key with a space, which S3 notifications encode as `+`.
            let suffix = if i == 3 { "with space".to_owned() } else { format!("k{i}") };
            upload(&c, "logs", &key(&root, ACCOUNT, "us-east-1", &hhmm, &suffix), &format!("f{i}"), 5, ACCOUNT, "us-east-1").await;
        }
        // A digest notification is acknowledged and not read.
        c.put_object()
            .bucket("logs")
            .key(format!("{root}CloudTrail-Digest/us-east-1/2026/01/01/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20260101T000000Z.json.gz"))
            .body(gz(&[]).into())
            .send()
            .await
            .unwrap();
        // A file announced through an SNS envelope (uploaded to a bucket without notifications).
        bucket(&c, "other", "us-east-1").await;
        let k = key(&root, ACCOUNT, "us-east-1", "2300", "sns");
        upload(&c, "other", &k, "sns", 5, ACCOUNT, "us-east-1").await;
        let s3_event = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "other"}, "object": {"key": k.replace('/', "%2F"), "size": 1}}}]});
        let envelope = serde_json::json!({"Type": "Notification", "Message": s3_event.to_string()});
        sqs.send_message().queue_url(&q).message_body(envelope.to_string()).send().await.unwrap();
        q
    });
    let cfg = config(
        "",
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]\nsqs_queue_url = \"{queue}\""),
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let results: Vec<(Vec<String>, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let (cfg, connect) = (cfg.clone(), moto.connect());
                s.spawn(move || {
                    let store = EmbeddedStore::open(
                        dir.path(),
                        StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 },
                    )
                    .unwrap();
                    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
                    let poller = Poller::new(cfg, connect).unwrap();
                    let options = IngestOptions { decoders: 2, ..IngestOptions::default() };
                    let (mut deleted, mut ignored) = (0, 0);
                    // Each consumer reads until the queue is empty for it.
                    for _ in 0..3 {
                        let q = poller.poll_queues(&store, &mut state, &options, &Quiet, None).unwrap();
                        assert!(q[0].bad.is_empty(), "{:?}", q[0].bad);
                        deleted += q[0].deleted;
                        ignored += q[0].ignored;
                    }
                    (ids(&store), deleted, ignored)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let a: HashSet<&String> = results[0].0.iter().collect();
    let b: HashSet<&String> = results[1].0.iter().collect();
    assert!(a.is_disjoint(&b), "an event was stored by both consumers: {:?}", a.intersection(&b).next());
    assert_eq!(a.len() + b.len(), (files as usize + 1) * 5, "every file's events, the SNS one included");
    assert!(
        a.contains(&"f3-0".to_owned()) || b.contains(&"f3-0".to_owned()),
        "the key with a space was read"
    );
    // Every message deleted: 24 files + the digest + the SNS one + the test event.
    let deleted = results[0].1 + results[1].1;
    assert_eq!(deleted, files as u64 + 3, "{results:?}");
    assert!(results[0].2 + results[1].2 >= 1, "the s3:TestEvent was ignored");
    let left = rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        let sqs = aws_sdk_sqs::Client::new(&east);
        sqs.receive_message().queue_url(&queue).wait_time_seconds(0).send().await.unwrap().messages().len()
    });
    assert_eq!(left, 0, "the queue is empty");
}
