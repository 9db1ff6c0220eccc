//! Health per trail: the last file and when it came, lag from `eventTime` to ingestion
//! (p50/p95), files and events per hour, S3 requests and their cost, the last error, and
//! whether the trail went silent. Kept in the state as one JSON document per trail.

use serde::{Deserialize, Serialize};
use trailwatch_store::State;

use crate::Result;

/// The state document kind.
pub const KIND: &str = "aws-trail-health";
/// A logging trail with no new file for this long is flagged silent (CloudTrail delivers about
/// every 5 minutes while the account has activity).
pub const SILENT_AFTER_MS: i64 = 2 * 3600 * 1000;
/// The window of the per-hour rates and lag percentiles.
const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// S3 prices (us-east-1, standard tier): LIST per 1000 requests, GET per 1000 requests.
pub const LIST_PRICE_PER_1000: f64 = 0.005;
pub const GET_PRICE_PER_1000: f64 = 0.0004;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrailHealth {
    pub arn: String,
    pub name: String,
    pub account: String,
    pub bucket: String,
    pub last_file: Option<String>,
    /// When the last file was stored (milliseconds).
    pub last_file_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub polls: u64,
    pub last_poll_at: Option<i64>,
    /// When today and yesterday were last listed in full.
    pub last_full_list_at: Option<i64>,
    pub lists_total: u64,
    pub gets_total: u64,
    pub last_poll_lists: u64,
    pub poll_interval_secs: u64,
    pub events_excluded_total: u64,
    /// When trailwatch started polling the trail. Files delivered before were backfilled:
    /// they count toward totals, not toward rates, request estimates or lag.
    #[serde(default)]
    pub watched_since: Option<i64>,
    /// Files stored in the last 24 hours.
    pub recent: Vec<FileStat>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileStat {
    pub at: i64,
    /// When S3 received the file (its LastModified), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<i64>,
    pub events: u64,
    /// Lags (ms) at the file's event-time quantiles.
    pub lags: Vec<i64>,
}

/// What `status` shows for a trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Files and events per hour delivered while the trail was watched (backfill left out).
    pub files_per_hour: f64,
    pub events_per_hour: f64,
    pub lag_p50_ms: Option<i64>,
    pub lag_p95_ms: Option<i64>,
    pub silent: bool,
    /// Estimated S3 request cost per day in USD at the current poll rate.
    pub cost_per_day: f64,
    pub lists_per_day: f64,
    pub gets_per_day: f64,
    /// Files of the last 24 hours that were delivered before polling began (backfilled).
    pub backfilled_files: u64,
}

impl TrailHealth {
    pub fn load(state: &State, arn: &str) -> Result<Option<TrailHealth>> {
        Ok(state.source_get(KIND, arn)?.and_then(|b| serde_json::from_str(&b).ok()))
    }

    pub fn all(state: &State) -> Result<Vec<TrailHealth>> {
        Ok(state.source_list(KIND)?.into_iter().filter_map(|(_, b)| serde_json::from_str(&b).ok()).collect())
    }

    pub fn save(&self, state: &mut State) -> Result<()> {
        let body = serde_json::to_string(self).expect("health serializes");
        state.source_put(KIND, &[(self.arn.clone(), body)])?;
        Ok(())
    }

    /// Marks the start of polling, once (before the first poll's files are added).
    pub fn watching(&mut self, now: i64) {
        self.watched_since.get_or_insert(now);
    }

    /// Adds a stored file (`delivered`: when S3 received it); forgets files older than the window.
    pub fn file(&mut self, name: &str, at: i64, delivered: Option<i64>, events: u64, event_times: &[i64]) {
        self.last_file = Some(name.to_owned());
        self.last_file_at = Some(at);
        self.recent.push(FileStat {
            at,
            delivered,
            events,
            lags: event_times.iter().map(|t| (at - t).max(0)).collect(),
        });
        self.recent.retain(|f| at - f.at <= WINDOW_MS);
    }

    /// Whether a file was delivered before polling began.
    fn backfilled(&self, f: &FileStat) -> bool {
        matches!((f.delivered, self.watched_since), (Some(d), Some(w)) if d < w)
    }

    pub fn summary(&self, now: i64, logging: bool) -> Summary {
        let in_window: Vec<&FileStat> = self.recent.iter().filter(|f| now - f.at <= WINDOW_MS).collect();
        let (backfill, recent): (Vec<&FileStat>, Vec<&FileStat>) =
            in_window.into_iter().partition(|f| self.backfilled(f));
        // Rates over the time the trail has been watched within the window: at least one
        // poll interval, at most a day. (Older states have no start: their first file then.)
        let since = self.watched_since.or(recent.first().map(|f| f.at)).unwrap_or(now);
        let min_hours = (self.poll_interval_secs.max(60) as f64 / 3600.0).min(1.0);
        let hours = ((now - since) as f64 / 3.6e6).clamp(min_hours, 24.0);
        let files_per_hour = recent.len() as f64 / hours;
        let events_per_hour = recent.iter().map(|f| f.events).sum::<u64>() as f64 / hours;
        // Pool each file's quantile lags, weighted by the file's events.
        let mut weighted: Vec<(i64, f64)> = Vec::new();
        for f in &recent {
            if f.lags.is_empty() {
                continue;
            }
            let w = f.events as f64 / f.lags.len() as f64;
            weighted.extend(f.lags.iter().map(|l| (*l, w)));
        }
        weighted.sort_by_key(|(l, _)| *l);
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let pct = |p: f64| {
            let mut acc = 0.0;
            weighted
                .iter()
                .find(|(_, w)| {
                    acc += w;
                    acc >= p * total
                })
                .map(|(l, _)| *l)
        };
        let silent = logging
            && self.last_poll_at.is_some()
            && self.last_file_at.is_none_or(|t| now - t > SILENT_AFTER_MS);
        let polls_per_day = 86400.0 / self.poll_interval_secs.max(1) as f64;
        let lists_per_day = self.last_poll_lists as f64 * polls_per_day;
        let gets_per_day = files_per_hour * 24.0;
        Summary {
            files_per_hour,
            events_per_hour,
            lag_p50_ms: pct(0.5),
            lag_p95_ms: pct(0.95),
            silent,
            lists_per_day,
            gets_per_day,
            cost_per_day: lists_per_day / 1000.0 * LIST_PRICE_PER_1000
                + gets_per_day / 1000.0 * GET_PRICE_PER_1000,
            backfilled_files: backfill.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_day() {
        let now = 100 * 3600 * 1000;
        let mut h = TrailHealth {
            poll_interval_secs: 300,
            last_poll_lists: 2,
            last_poll_at: Some(now),
            ..Default::default()
        };
        // 10 files over 10 hours, 100 events each, lags 1..=10 minutes.
        for i in 0..10 {
            let at = now - (9 - i) * 3600 * 1000;
            h.file("f", at, Some(at), 100, &[at - (i + 1) * 60_000]);
        }
        let s = h.summary(now, true);
        assert!((s.files_per_hour - 10.0 / 9.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.backfilled_files, 0);
        assert_eq!(s.lag_p50_ms, Some(5 * 60_000));
        assert_eq!(s.lag_p95_ms, Some(10 * 60_000));
        assert!(!s.silent);
        assert_eq!(s.lists_per_day, 2.0 * 288.0);
        assert!(h.summary(now + SILENT_AFTER_MS + 1, true).silent);
        assert!(!h.summary(now + SILENT_AFTER_MS + 1, false).silent);
    }

    /// A first poll that backfills two days of files must not read as a torrent of files per
    /// hour (nor their age as lag): rates and estimates count what came while watched.
    #[test]
    fn backfilled_files_do_not_count_toward_rates_or_lag() {
        let hour = 3600 * 1000;
        let t = 1000 * hour;
        let mut h = TrailHealth { poll_interval_secs: 300, last_poll_lists: 1, ..Default::default() };
        h.watching(t);
        // The first poll stores 4,000 files delivered over the previous two days.
        for i in 0..4000i64 {
            let delivered = t - 48 * hour + i * 43_000;
            h.file("old", t + 60_000, Some(delivered), 20, &[delivered - 300_000]);
        }
        h.last_poll_at = Some(t + 60_000);
        let s = h.summary(t + 5 * 60_000, true);
        assert_eq!(s.backfilled_files, 4000);
        assert_eq!((s.files_per_hour, s.gets_per_day), (0.0, 0.0), "{s:?}");
        assert_eq!(s.lag_p95_ms, None);
        // Then an hour of live files, one every 5 minutes, each 6 minutes behind.
        h.watching(t + hour); // a later poll leaves the start alone
        for i in 1..=12 {
            let delivered = t + i * 300_000;
            h.file("new", delivered + 30_000, Some(delivered), 20, &[delivered - 330_000]);
        }
        let s = h.summary(t + hour, true);
        assert!((s.files_per_hour - 12.0).abs() < 1e-9, "{s:?}");
        assert!((s.gets_per_day - 288.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.lag_p95_ms, Some(360_000));
        assert_eq!(s.backfilled_files, 4000);
    }
}
