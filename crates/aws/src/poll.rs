//! Polling without SQS. For each trail, account folder and region, only the day folders that
//! can have new files are listed: today, and yesterday in the first hour after midnight UTC,
//! with `StartAfter` a little before the last key seen (the cursor, in the state). Keys sort by
//! delivery time to the minute, then by a random suffix; a file that comes late or sorts
//! before newer ones is caught because the cursor is rewound by [`REWIND_MINUTES`] and,
//! every `relist_every`, today and yesterday are listed in full. Keys found are checked
//! against the files already read, so no object is read twice.
//!
//! The objects go through the ordinary ingest pipeline ([`trailwatch_ingest::ingest_files`])
//! with an S3 [`Opener`](trailwatch_ingest::Opener): the same decoders, store, detection and
//! commit order (a file is recorded only after a commit that covers its events).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, NaiveDate, Timelike, Utc};
use trailwatch_cloudtrail::{KeyKind, LogKey};
use trailwatch_ingest::{
    CommitStage, Detection, Discovered, EventFilter, IngestOptions, Observer, Problem, Progress, RecordedFile,
};
use trailwatch_store::{EventStore, State};

use crate::client::{AccountClients, Connect};
use crate::config::{Account, AwsConfig};
use crate::discover::{self, Trail};
use crate::error::{aws_error, Error, Result};
use crate::fetch::{object_url, Counters, S3Objects};
use crate::health::TrailHealth;

/// How far before the last key seen each listing starts, in delivery minutes.
pub const REWIND_MINUTES: i64 = 15;
/// The state document kind of listing cursors (by `s3://bucket/day-folder/`).
pub const CURSOR_KIND: &str = "aws-s3-cursor";
/// The source name S3 objects are recorded under in the files table.
pub const SOURCE: &str = "s3";

/// One account, its clients and the trails found in it.
pub struct Watched {
    pub account: Account,
    pub clients: AccountClients,
    pub trails: Vec<Trail>,
    /// Errors of the last discovery.
    pub errors: Vec<Error>,
}

/// Everything configured, with a runtime for the SDK. The API is blocking: the ingest
/// pipeline runs on threads of its own.
pub struct Poller {
    pub rt: tokio::runtime::Runtime,
    pub config: AwsConfig,
    pub connect: Connect,
    pub watched: Vec<Watched>,
    /// Bucket regions learnt (from trails, or `GetBucketLocation` for buckets SQS names).
    regions: Mutex<std::collections::HashMap<String, String>>,
}

/// What one trail's poll did.
#[derive(Debug, Clone, Default)]
pub struct TrailPoll {
    pub arn: String,
    pub lists: u64,
    pub gets: u64,
    pub files_new: u64,
    pub files_known: u64,
    pub progress: Progress,
    pub error: Option<String>,
}

impl Poller {
    pub fn new(config: AwsConfig, connect: Connect) -> std::io::Result<Poller> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let watched = config
            .accounts
            .iter()
            .map(|a| Watched {
                account: a.clone(),
                clients: rt.block_on(AccountClients::new(&connect, a)),
                trails: Vec::new(),
                errors: Vec::new(),
            })
            .collect();
        Ok(Poller { rt, config, connect, watched, regions: Mutex::default() })
    }

    /// Finds every account's trails, their buckets' regions and folders. Returns the requests made.
    pub fn discover(&mut self) -> u64 {
        let mut requests = 0;
        for w in &mut self.watched {
            let found = self.rt.block_on(discover::trails(&w.clients, &w.account));
            requests += found.requests;
            w.errors = found.errors;
            w.trails = found.trails;
            for t in w.trails.iter_mut().filter(|t| t.skipped.is_none()) {
                match self.rt.block_on(discover::locate(&w.clients, t, &w.account)) {
                    Ok(n) => requests += n,
                    Err(e) => {
                        t.skipped = Some(format!("bucket not readable: {e}"));
                        w.errors.push(e);
                    }
                }
            }
        }
        requests
    }

    /// Saves what the last [`discover`](Self::discover) found, per account, for the UI; the
    /// accounts saved before and no longer configured are marked removed. Returns their ids
    /// (those newly marked).
    pub fn save_discovery(&self, state: &mut State) -> Result<Vec<String>> {
        let at = Utc::now().timestamp_millis();
        let found: Vec<_> = self.watched.iter().map(|w| crate::report::AccountDiscovery::of(w, at)).collect();
        crate::report::AccountDiscovery::save_all(state, &found, at)
    }

    /// Polls every trail being read once: lists the new keys and ingests the new objects.
    pub fn poll_once(
        &self,
        store: &dyn EventStore,
        state: &mut State,
        options: &IngestOptions,
        observer: &dyn Observer,
        mut detection: Option<&mut Detection>,
    ) -> Result<Vec<TrailPoll>> {
        let mut out = Vec::new();
        for w in self.watched.iter().filter(|w| w.account.sqs_queue_url.is_none()) {
            let options = self.account_options(w, options);
            for t in w.trails.iter().filter(|t| t.skipped.is_none()) {
                let r = self.poll_trail(w, t, store, state, &options, observer, detection.as_deref_mut());
                match r {
                    Ok(p) => out.push(p),
                    // The store or the state failed: nothing else can go on.
                    Err(e @ (Error::Store(_) | Error::Ingest(_))) => return Err(e),
                    Err(e) => {
                        let mut h = self.health(state, w, t)?;
                        h.last_error = Some(e.to_string());
                        h.last_error_at = Some(Utc::now().timestamp_millis());
                        h.save(state)?;
                        out.push(TrailPoll {
                            arn: t.arn.clone(),
                            error: Some(e.to_string()),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Reads every queue of the accounts in SQS mode until it is empty.
    pub fn poll_queues(
        &self,
        store: &dyn EventStore,
        state: &mut State,
        options: &IngestOptions,
        observer: &dyn Observer,
        mut detection: Option<&mut Detection>,
    ) -> Result<Vec<crate::sqs::QueuePoll>> {
        let mut out = Vec::new();
        for w in &self.watched {
            let Some(queue) = &w.account.sqs_queue_url else { continue };
            let options =
                IngestOptions { now_ms: Utc::now().timestamp_millis(), ..self.account_options(w, options) };
            out.push(crate::sqs::poll_queue(
                self,
                w,
                queue,
                store,
                state,
                &options,
                observer,
                detection.as_deref_mut(),
            )?);
        }
        Ok(out)
    }

    fn account_options(&self, w: &Watched, options: &IngestOptions) -> IngestOptions {
        let mut options = options.clone();
        options.source = SOURCE.into();
        options.decoders = self.config.concurrency;
        if !w.account.select.keeps_all() {
            let sel = w.account.select.clone();
            options.select = Some(EventFilter(Arc::new(move |e| sel.keeps(e))));
        }
        options
    }

    /// A client for `bucket`'s region (looked up once, with `GetBucketLocation`).
    pub fn bucket_client(&self, w: &Watched, bucket: &str) -> aws_sdk_s3::Client {
        let known = self.regions.lock().unwrap_or_else(|e| e.into_inner()).get(bucket).cloned();
        let known = known
            .or_else(|| w.trails.iter().find(|t| t.bucket == bucket).and_then(|t| t.bucket_region.clone()));
        let region = match known {
            Some(r) => r,
            None => {
                let first = w.account.regions.first().map_or("us-east-1", String::as_str);
                let loc = self.rt.block_on(w.clients.s3(first).get_bucket_location().bucket(bucket).send());
                let r = match loc {
                    Ok(o) => crate::client::bucket_region(o.location_constraint().map(|c| c.as_str())),
                    Err(_) => first.to_owned(),
                };
                self.regions.lock().unwrap_or_else(|e| e.into_inner()).insert(bucket.to_owned(), r.clone());
                r
            }
        };
        w.clients.s3(&region)
    }

    fn health(&self, state: &State, w: &Watched, t: &Trail) -> Result<TrailHealth> {
        let mut h = TrailHealth::load(state, &t.arn)?.unwrap_or_default();
        h.arn = t.arn.clone();
        h.name = t.name.clone();
        h.account = w.account.id.clone();
        h.bucket = t.bucket.clone();
        h.poll_interval_secs = w.account.poll_interval.as_secs();
        Ok(h)
    }

    #[allow(clippy::too_many_arguments)]
    fn poll_trail(
        &self,
        w: &Watched,
        t: &Trail,
        store: &dyn EventStore,
        state: &mut State,
        options: &IngestOptions,
        observer: &dyn Observer,
        detection: Option<&mut Detection>,
    ) -> Result<TrailPoll> {
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        let mut health = self.health(state, w, t)?;
        let first = health.last_full_list_at.is_none();
        let full = first
            || health
                .last_full_list_at
                .is_some_and(|at| now_ms - at >= self.config.relist_every.as_millis() as i64);
        let today = now.date_naive();
        let mut days = vec![today];
        if first {
            for d in 1..=self.config.backfill_days {
                days.push(today - ChronoDuration::days(d as i64));
            }
        } else if full || now.hour() < 1 {
            days.push(today - ChronoDuration::days(1));
        }
        let region = t.bucket_region.clone().unwrap_or_else(|| t.home_region.clone());
        let s3 = w.clients.s3(&region);
        let mut poll = TrailPoll { arn: t.arn.clone(), ..Default::default() };
        let mut todo = Vec::new();
        let mut cursors = Vec::new();
        for root in &t.roots {
            for r in &root.regions {
                for day in &days {
                    let folder = day_folder(&root.path, r, *day);
                    let cursor_key = object_url(&t.bucket, &folder);
                    let cursor = state.source_get(CURSOR_KIND, &cursor_key)?;
                    let start_after =
                        if full { None } else { cursor.as_deref().and_then(|c| rewind(c, &folder)) };
                    let (objects, lists) = self.rt.block_on(list(&s3, &t.bucket, &folder, start_after))?;
                    poll.lists += lists;
                    let mut newest = cursor.clone();
                    for o in objects {
                        if newest.as_deref().is_none_or(|c| o.key.as_str() > c) {
                            newest = Some(o.key.clone());
                        }
                        let key = LogKey::parse(&o.key);
                        if key.as_ref().is_none_or(|k| k.kind == KeyKind::Digest) {
                            continue;
                        }
                        let url = object_url(&t.bucket, &o.key);
                        match state.file(SOURCE, &url)? {
                            // A file that failed with nothing read (access denied, say) is tried again.
                            Some(k) if k.size == o.size && (k.error.is_none() || k.events > 0) => {
                                poll.files_known += 1
                            }
                            _ => todo.push(Discovered {
                                path: PathBuf::from(url),
                                size: o.size,
                                modified: o.modified,
                                key,
                            }),
                        }
                    }
                    if newest != cursor {
                        if let Some(n) = newest {
                            cursors.push((cursor_key, n));
                        }
                    }
                }
            }
        }
        poll.files_new = todo.len() as u64;
        let counters = Arc::new(Counters::default());
        let opener = S3Objects { handle: self.rt.handle().clone(), client: s3, counters: counters.clone() };
        let recorder = Recorder { inner: observer, files: Mutex::new(Vec::new()) };
        if !todo.is_empty() {
            let options = IngestOptions { now_ms, ..options.clone() };
            let summary = trailwatch_ingest::ingest_files(
                todo,
                &opener,
                Progress::default(),
                store,
                state,
                &options,
                &recorder,
                detection,
            )?;
            poll.progress = summary.progress;
        }
        poll.gets = counters.gets.load(Ordering::Relaxed);
        // Cursors move only after the files they pass are committed.
        state.source_put(CURSOR_KIND, &cursors)?;
        health.watching(now_ms);
        for (at, f) in recorder.files.into_inner().unwrap_or_else(|e| e.into_inner()) {
            // S3's LastModified is when the file was delivered.
            health.file(&f.record.path, at, Some(f.record.modified), f.record.events, &f.event_times);
            if let Some(e) = &f.record.error {
                health.last_error = Some(format!("{}: {e}", f.record.path));
                health.last_error_at = Some(at);
            }
        }
        health.polls += 1;
        health.last_poll_at = Some(now_ms);
        if full {
            health.last_full_list_at = Some(now_ms);
        }
        health.lists_total += poll.lists;
        health.gets_total += poll.gets;
        health.last_poll_lists = poll.lists;
        health.events_excluded_total += poll.progress.events_excluded;
        health.save(state)?;
        Ok(poll)
    }
}

/// `root` + `CloudTrail/<region>/yyyy/mm/dd/`.
pub fn day_folder(root: &str, region: &str, day: NaiveDate) -> String {
    format!("{root}CloudTrail/{region}/{}/", day.format("%Y/%m/%d"))
}

/// `StartAfter` for a listing of `folder` whose last key seen was `cursor`: the cursor's
/// delivery stamp moved back [`REWIND_MINUTES`], so that files delivered late within that time
/// are listed again. `None` (list the whole folder) when the rewound time leaves the day or the
/// key has no stamp.
pub fn rewind(cursor: &str, folder: &str) -> Option<String> {
    let name = cursor.strip_prefix(folder)?;
    let stamp_at = name.match_indices('_').map(|(i, _)| i + 1).find(|&i| {
        name.get(i..i + 14).is_some_and(|s| {
            s.as_bytes()[8] == b'T' && s.ends_with('Z') && s[..8].bytes().all(|b| b.is_ascii_digit())
        })
    })?;
    let stamp = &name[stamp_at..stamp_at + 13];
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M").ok()?;
    let back = t - ChronoDuration::minutes(REWIND_MINUTES);
    if back.date() != t.date() {
        return None;
    }
    Some(format!("{folder}{}{}", &name[..stamp_at], back.format("%Y%m%dT%H%MZ")))
}

/// An object listed.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub modified: i64,
}

/// Lists `prefix` after `start_after`, every page. Returns the objects and the requests made.
pub async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
) -> Result<(Vec<Object>, u64)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut requests = 0;
    loop {
        requests += 1;
        let mut req = s3.list_objects_v2().bucket(bucket).prefix(prefix);
        req = match &token {
            Some(t) => req.continuation_token(t),
            None => req.set_start_after(start_after.clone()),
        };
        let page = req
            .send()
            .await
            .map_err(|e| aws_error(format!("s3:ListBucket on {bucket} (prefix {prefix})"), &e))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            out.push(Object {
                key: key.to_owned(),
                size: o.size().unwrap_or(0).max(0) as u64,
                modified: o.last_modified().map_or(0, |t| t.to_millis().unwrap_or(0)),
            });
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok((out, requests)),
        }
    }
}

/// Forwards to the caller's observer and keeps the files recorded, with when.
struct Recorder<'a> {
    inner: &'a dyn Observer,
    files: Mutex<Vec<(i64, RecordedFile)>>,
}

impl Observer for Recorder<'_> {
    fn progress(&self, p: &Progress) {
        self.inner.progress(p)
    }
    fn problem(&self, p: &Problem) {
        self.inner.problem(p)
    }
    fn signal(&self, o: &trailwatch_detect::signal::Outcome) {
        self.inner.signal(o)
    }
    fn committing(&self, stage: CommitStage) {
        self.inner.committing(stage)
    }
    fn recorded(&self, files: &[RecordedFile]) {
        let at = Utc::now().timestamp_millis();
        self.files.lock().unwrap_or_else(|e| e.into_inner()).extend(files.iter().map(|f| (at, f.clone())));
        self.inner.recorded(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_rewind_within_the_day() {
        let folder = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/12/02/";
        let key = format!("{folder}111111111111_CloudTrail_us-east-1_20261202T0530Z_abc.json.gz");
        assert_eq!(
            rewind(&key, folder).as_deref(),
            Some(&*format!("{folder}111111111111_CloudTrail_us-east-1_20261202T0515Z"))
        );
        let early = format!("{folder}111111111111_CloudTrail_us-east-1_20261202T0010Z_abc.json.gz");
        assert_eq!(rewind(&early, folder), None);
        assert_eq!(rewind(&format!("{folder}odd-name.json.gz"), folder), None);
        assert_eq!(rewind("elsewhere/x", folder), None);
        assert_eq!(
            day_folder(
                "p/AWSLogs/o-abc/111111111111/",
                "eu-west-1",
                NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
            ),
            "p/AWSLogs/o-abc/111111111111/CloudTrail/eu-west-1/2026/01/05/"
        );
    }
}
