//! Discovery and polling against a real moto server.

mod support;

use std::collections::HashSet;

use support::*;
use trailwatch_aws::poll::Poller;
use trailwatch_ingest::{IngestOptions, Observer};
use trailwatch_store::{EmbeddedStore, EventStore, State, StoreOptions};

struct Quiet;
impl Observer for Quiet {}

fn no_imds() {
    // The SDK's default chain must never reach the instance-metadata address.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Every stored event id.
fn ids(store: &EmbeddedStore) -> Vec<String> {
    let request = trailwatch_store::SearchRequest {
        query: trailwatch_query::Query::All,
        range: Default::default(),
        limit: 100_000,
        offset: 0,
        order: Default::default(),
    };
    let hits = store.search(&request).unwrap();
    let mut ids: Vec<String> = hits.events.into_iter().map(|h| h.event.id).collect();
    ids.sort();
    ids
}

#[test]
fn trails_are_found_once_inactive_ones_skipped_with_why() {
    no_imds();
    let moto = Moto::start();
    let rt = rt();
    rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        let west = moto.sdk("eu-west-1").await;
        bucket(&s3(&east), "logs-east", "us-east-1").await;
        bucket(&s3(&west), "logs-eu", "eu-west-1").await;
        trail(&east, "org-wide", "logs-east", Some("ct"), true, true).await;
        trail(&west, "eu-only", "logs-eu", None, false, true).await;
        trail(&east, "stopped", "logs-east", None, false, false).await;
    });
    let cfg = config(
        "",
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\", \"eu-west-1\", \"us-west-2\"]"),
    );
    let mut poller = Poller::new(cfg, moto.connect()).unwrap();
    poller.discover();
    let w = &poller.watched[0];
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let mut names: Vec<_> = w.trails.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    // The multi-region trail shows in all three regions, but is one trail.
    assert_eq!(names, ["eu-only", "org-wide", "stopped"]);
    let stopped = w.trails.iter().find(|t| t.name == "stopped").unwrap();
    assert!(stopped.skipped.as_deref().unwrap().starts_with("not logging"), "{:?}", stopped.skipped);
    let eu = w.trails.iter().find(|t| t.name == "eu-only").unwrap();
    assert_eq!(eu.skipped, None);
    assert_eq!(eu.bucket_region.as_deref(), Some("eu-west-1"));
    let org = w.trails.iter().find(|t| t.name == "org-wide").unwrap();
    assert_eq!(
        org.bucket_region.as_deref(),
        Some("us-east-1"),
        "GetBucketLocation's empty answer is us-east-1"
    );
    assert_eq!(org.prefix, "ct");
    assert_eq!(org.roots.len(), 1);
    assert_eq!(org.roots[0].path, format!("ct/AWSLogs/{ACCOUNT}/"));
    assert_eq!(org.roots[0].regions, ["eu-west-1", "us-east-1", "us-west-2"]);
}

#[test]
fn late_files_are_read_once_and_a_restart_reads_nothing_again() {
    no_imds();
    let moto = Moto::start();
    let rt = rt();
    let root = format!("AWSLogs/o-abc123def4/{ACCOUNT}/");
    let s3c = rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        bucket(&s3(&east), "logs", "us-east-1").await;
        trail(&east, "main", "logs", None, true, true).await;
        let c = s3(&east);
        // The organization layout.
        upload(&c, "logs", &key(&root, ACCOUNT, "us-east-1", "1200", "aaaa"), "a", 10, ACCOUNT, "us-east-1").await;
        upload(&c, "logs", &key(&root, ACCOUNT, "us-east-1", "1230", "bbbb"), "b", 10, ACCOUNT, "us-east-1").await;
        // A digest is not read.
        c.put_object()
            .bucket("logs")
            .key(format!("{root}CloudTrail-Digest/us-east-1/2026/01/01/x_CloudTrail-Digest_us-east-1_main_us-east-1_20260101T000000Z.json.gz"))
            .body(gz(&[]).into())
            .send()
            .await
            .unwrap();
        c
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "[aws]\nrelist_every = \"1h\"",
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]"),
    );
    let options = IngestOptions { decoders: 2, ..IngestOptions::default() };
    {
        let store = EmbeddedStore::open(
            dir.path(),
            StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 },
        )
        .unwrap();
        let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
        let mut poller = Poller::new(cfg.clone(), moto.connect()).unwrap();
        poller.discover();
        let t = &poller.watched[0].trails[0];
        assert_eq!(t.roots.len(), 1, "{:?}", t.roots);
        assert_eq!(t.roots[0].path, root);
        let p = poller.poll_once(&store, &mut state, &options, &Quiet, None).unwrap();
        assert_eq!(p[0].error, None);
        assert_eq!(p[0].files_new, 2);
        assert_eq!(p[0].progress.events_added, 20);
        // A file delivered late, sorting before the newest key (within the rewind), and one
        // much older (found by the periodic full listing).
        rt.block_on(upload(
            &s3c,
            "logs",
            &key(&root, ACCOUNT, "us-east-1", "1220", "zzzz"),
            "late",
            3,
            ACCOUNT,
            "us-east-1",
        ));
        rt.block_on(upload(
            &s3c,
            "logs",
            &key(&root, ACCOUNT, "us-east-1", "0100", "cccc"),
            "old",
            4,
            ACCOUNT,
            "us-east-1",
        ));
        let p = poller.poll_once(&store, &mut state, &options, &Quiet, None).unwrap();
        assert_eq!((p[0].files_new, p[0].progress.events_added), (1, 3), "{:?}", p[0]);
        // Steady state: one list request for today's folder in the only region.
        assert_eq!(p[0].lists, 1);
        assert_eq!(p[0].gets, 1);
    }
    // A restart with a full listing due: the old file is found, nothing is read twice.
    let cfg = config(
        "[aws]\nrelist_every = \"1s\"",
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]"),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let store =
        EmbeddedStore::open(dir.path(), StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 })
            .unwrap();
    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let mut poller = Poller::new(cfg, moto.connect()).unwrap();
    poller.discover();
    let p = poller.poll_once(&store, &mut state, &options, &Quiet, None).unwrap();
    assert_eq!((p[0].files_new, p[0].files_known, p[0].progress.events_added), (1, 3, 4), "{:?}", p[0]);
    let got = ids(&store);
    let unique: HashSet<_> = got.iter().collect();
    assert_eq!(got.len(), 27);
    assert_eq!(unique.len(), 27);
    let health = trailwatch_aws::health::TrailHealth::all(&state).unwrap();
    assert_eq!(health.len(), 1);
    assert!(health[0].last_file.as_deref().unwrap().contains("0100"), "{:?}", health[0].last_file);
    assert_eq!(health[0].recent.len(), 4);
    assert!(health[0].lists_total >= 3);
}

#[test]
fn two_accounts_one_through_an_assumed_role() {
    no_imds();
    let moto = Moto::start();
    let rt = rt();
    let other = "222222222222";
    let cfg = config(
        "",
        &format!(
            "[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]\n\
             [[accounts]]\nid = \"{other}\"\nregions = [\"eu-west-1\"]\nrole_arn = \"arn:aws:iam::{other}:role/reader\"\nexternal_id = \"x\""
        ),
    );
    rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        bucket(&s3(&east), "first", "us-east-1").await;
        trail(&east, "first-trail", "first", None, false, true).await;
        upload(
            &s3(&east),
            "first",
            &key(&format!("AWSLogs/{ACCOUNT}/"), ACCOUNT, "us-east-1", "1000", "a"),
            "one",
            4,
            ACCOUNT,
            "us-east-1",
        )
        .await;
        // The other account's resources, made with the role's credentials (moto keeps them
        // in that account).
        let clients = trailwatch_aws::client::AccountClients::new(&moto.connect(), &cfg.accounts[1]).await;
        assert!(clients.whoami().await.unwrap().contains(other));
        let west = clients.sdk.clone().into_builder().region(aws_config::Region::new("eu-west-1")).build();
        bucket(&s3(&west), "second", "eu-west-1").await;
        trail(&west, "second-trail", "second", None, false, true).await;
        upload(
            &s3(&west),
            "second",
            &key(&format!("AWSLogs/{other}/"), other, "eu-west-1", "1000", "b"),
            "two",
            6,
            other,
            "eu-west-1",
        )
        .await;
    });
    let dir = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(dir.path(), StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 })
            .unwrap();
    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let mut poller = Poller::new(cfg, moto.connect()).unwrap();
    poller.discover();
    for w in &poller.watched {
        assert!(w.errors.is_empty(), "{:?}", w.errors);
        assert_eq!(w.trails.len(), 1, "{} sees only its own trail", w.account.id);
    }
    assert_eq!(poller.watched[1].trails[0].owner(), other);
    assert_eq!(poller.watched[1].trails[0].bucket_region.as_deref(), Some("eu-west-1"));
    let p = poller.poll_once(&store, &mut state, &IngestOptions::default(), &Quiet, None).unwrap();
    let added: Vec<u64> = p.iter().map(|t| t.progress.events_added).collect();
    assert_eq!(added, [4, 6], "{p:?}");
    let got = ids(&store);
    assert!(got.contains(&"two-0".to_owned()) && got.contains(&"one-0".to_owned()));
}

#[test]
fn excluded_events_are_counted_not_stored() {
    no_imds();
    let moto = Moto::start();
    let rt = rt();
    rt.block_on(async {
        let east = moto.sdk("us-east-1").await;
        bucket(&s3(&east), "logs", "us-east-1").await;
        trail(&east, "main", "logs", None, false, true).await;
        // Even records are CreateUser (a write), odd ones GetUser (read-only).
        upload(
            &s3(&east),
            "logs",
            &key(&format!("AWSLogs/{ACCOUNT}/"), ACCOUNT, "us-east-1", "1000", "a"),
            "e",
            10,
            ACCOUNT,
            "us-east-1",
        )
        .await;
    });
    let cfg = config(
        "",
        &format!(
            "[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]\nevents = \"writes-and-logins\""
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(dir.path(), StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 })
            .unwrap();
    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let mut poller = Poller::new(cfg, moto.connect()).unwrap();
    poller.discover();
    let p = poller.poll_once(&store, &mut state, &IngestOptions::default(), &Quiet, None).unwrap();
    assert_eq!((p[0].progress.events_added, p[0].progress.events_excluded), (5, 5), "{:?}", p[0]);
    assert_eq!(ids(&store), ["e-0", "e-2", "e-4", "e-6", "e-8"]);
    let h = trailwatch_aws::health::TrailHealth::all(&state).unwrap();
    assert_eq!(h[0].events_excluded_total, 5);
}

#[test]
fn accounts_removed_from_the_configuration_are_marked_removed() {
    use trailwatch_aws::report::AccountDiscovery;
    no_imds();
    let moto = Moto::start();
    let other = "222222222222";
    rt().block_on(async {
        let east = moto.sdk("us-east-1").await;
        bucket(&s3(&east), "first", "us-east-1").await;
        trail(&east, "first-trail", "first", None, false, true).await;
    });
    let both = config(
        "",
        &format!(
            "[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]\n\
             [[accounts]]\nid = \"{other}\"\nname = \"gone\"\nregions = [\"us-east-1\"]\n\
             role_arn = \"arn:aws:iam::{other}:role/reader\""
        ),
    );
    let one = config("", &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]"));
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let discover = |cfg: &trailwatch_aws::AwsConfig, state: &mut State| {
        let mut poller = Poller::new(cfg.clone(), moto.connect()).unwrap();
        poller.discover();
        let removed = poller.save_discovery(state).unwrap();
        let all = AccountDiscovery::all(state).unwrap();
        (removed, all)
    };
    let removed_at = |all: &[AccountDiscovery], id: &str| {
        all.iter().find(|a| a.id == id).unwrap_or_else(|| panic!("{id} is not in {all:?}")).removed_at
    };

    let (removed, all) = discover(&both, &mut state);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(all.len(), 2);
    assert_eq!((removed_at(&all, ACCOUNT), removed_at(&all, other)), (None, None));
    let first = all.iter().find(|a| a.id == other).unwrap().clone();
    assert_eq!((first.name.as_str(), first.trails.len()), ("gone", 0), "{first:?}");

    // The second account leaves the configuration: its last discovery stays, marked removed.
    let (removed, all) = discover(&one, &mut state);
    assert_eq!(removed, [other]);
    let gone = all.iter().find(|a| a.id == other).unwrap();
    let at = gone.removed_at.expect("marked removed");
    assert!(at >= first.at);
    assert_eq!(AccountDiscovery { removed_at: None, ..gone.clone() }, first, "otherwise unchanged");
    assert_eq!(removed_at(&all, ACCOUNT), None);

    // A later discovery does not mark it again (the time it left stays), and putting it back
    // in the configuration makes it an account being read again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (removed, all) = discover(&one, &mut state);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(removed_at(&all, other), Some(at));
    let (removed, all) = discover(&both, &mut state);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!((removed_at(&all, ACCOUNT), removed_at(&all, other)), (None, None));
}
