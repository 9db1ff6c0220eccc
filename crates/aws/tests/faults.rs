//! Throttling and broken bodies, injected by a loopback proxy in front of moto.

mod support;

use std::sync::atomic::Ordering;

use support::*;
use trailwatch_aws::client::Connect;
use trailwatch_aws::poll::Poller;
use trailwatch_ingest::{IngestOptions, Observer};
use trailwatch_store::{EmbeddedStore, EventStore, State, StoreOptions};

struct Quiet;
impl Observer for Quiet {}

#[test]
fn throttled_gets_are_retried_and_broken_bodies_resumed() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let root = format!("AWSLogs/{ACCOUNT}/");
    rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        bucket(&s3(&east), "logs", "us-east-1").await;
        trail(&east, "main", "logs", None, false, true).await;
        for (i, hhmm) in ["0900", "0905", "0910", "0915"].iter().enumerate() {
            let k = key(&root, ACCOUNT, "us-east-1", hhmm, &format!("s{i}"));
            // Big enough that half a body is a real cut: 400 records.
            upload(&s3(&east), "logs", &k, &format!("f{i}"), 400, ACCOUNT, "us-east-1").await;
        }
    });
    let proxy = FaultProxy::start(moto.port, 2, 2);
    let dir = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(dir.path(), StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 })
            .unwrap();
    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let cfg = config("", &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]"));
    let connect = Connect { endpoint_url: Some(proxy.url()), credentials: Some(creds()) };
    let mut poller = Poller::new(cfg, connect).unwrap();
    poller.discover();
    assert!(poller.watched[0].errors.is_empty(), "{:?}", poller.watched[0].errors);
    let options = IngestOptions { decoders: 1, ..IngestOptions::default() };
    let p = poller.poll_once(&store, &mut state, &options, &Quiet, None).unwrap();
    assert_eq!(p[0].error, None);
    assert_eq!(p[0].files_new, 4);
    assert_eq!(p[0].progress.files_failed, 0, "{:?}", p[0]);
    assert_eq!(p[0].progress.events_added, 1600);
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 4, "two 503s and two cut bodies were injected");
    // Four files, two resumed with a ranged GET (the SDK's own retries of the 503s are not
    // counted here: they are one logical GetObject each).
    assert_eq!(p[0].gets, 6, "{:?}", p[0]);
    assert_eq!(store.count(&trailwatch_query::Query::All, Default::default()).unwrap(), 1600);
}
