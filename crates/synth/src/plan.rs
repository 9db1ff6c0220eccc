//! How many events land in which file: streams per account and region, five-minute delivery
//! windows with a daily rhythm and bursts, and the split of busy windows into several files.
//!
//! The plan is computed up front from the seed alone, so files can then be written in any order
//! by any number of threads and still come out the same.

use rand::Rng;

use crate::util::{rng_for, Civil};

/// CloudTrail delivers a region's events about every five minutes.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most records one generated file holds.
pub const MAX_FILE_RECORDS: u64 = 20_000;

/// One file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileJob {
    pub account: usize,
    pub region: usize,
    /// Start of the window the file's records fall in.
    pub window_start: i64,
    pub records: u64,
    /// Where the file sits in the plan; seeds its generator.
    pub index: u64,
}

/// Splits `total` proportionally to `weights`, largest remainders first, so the parts sum to it.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let assigned: u64 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(total.saturating_sub(assigned) as usize) {
        parts[i] += 1;
    }
    parts
}

/// Activity by hour of day (UTC) and weekday: busy office hours, a quiet night, calmer weekends.
fn rhythm(ms: i64) -> f64 {
    let c = Civil::from_ms(ms);
    let hour = f64::from(c.hour) + f64::from(c.minute) / 60.0;
    let daily = 1.0 + 0.7 * ((hour - 15.0) / 24.0 * std::f64::consts::TAU).cos();
    let weekday = (ms.div_euclid(86_400_000) + 4).rem_euclid(7); // 0 = Sunday
    if weekday == 0 || weekday == 6 {
        daily * 0.55
    } else {
        daily
    }
}

/// Lays out `events` over accounts, regions and windows.
pub fn plan(
    seed: u64,
    events: u64,
    accounts: usize,
    regions: usize,
    start_ms: i64,
    duration_ms: i64,
) -> Vec<FileJob> {
    // A few busy accounts and one dominant region each, as in most organizations.
    let mut weights = Vec::with_capacity(accounts * regions);
    for a in 0..accounts {
        for r in 0..regions {
            weights.push(1.0 / (a as f64 + 1.0) / (r as f64 + 1.0).powf(1.6));
        }
    }
    let per_stream = apportion(events, &weights);
    let windows = ((duration_ms + WINDOW_MS - 1) / WINDOW_MS).max(1) as usize;
    let mut jobs = Vec::new();
    for (stream, &count) in per_stream.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let mut rng = rng_for(seed, 0x5752_0000 + stream as u64);
        let weights: Vec<f64> = (0..windows)
            .map(|w| {
                // Log-normal noise with an occasional storm (a deploy, a scanner, a backfill).
                let noise: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
                let storm = if rng.random_bool(0.01) { rng.random_range(8.0..40.0) } else { 1.0 };
                rhythm(start_ms + w as i64 * WINDOW_MS) * (noise * 1.8).exp() * storm
            })
            .collect();
        for (w, n) in apportion(count, &weights).into_iter().enumerate() {
            let mut left = n;
            while left > 0 {
                let records = left.min(MAX_FILE_RECORDS);
                jobs.push(FileJob {
                    account: stream / regions,
                    region: stream % regions,
                    window_start: start_ms + w as i64 * WINDOW_MS,
                    records,
                    index: jobs.len() as u64,
                });
                left -= records;
            }
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_exactly() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0.0, 2.0]), vec![0, 7]);
        assert_eq!(apportion(5, &[]), Vec::<u64>::new());
    }

    #[test]
    fn plan_covers_every_event_with_bounded_files() {
        let jobs = plan(9, 1_000_000, 3, 4, 1_722_000_000_000, 3 * 86_400_000);
        assert_eq!(jobs.iter().map(|j| j.records).sum::<u64>(), 1_000_000);
        assert!(jobs.iter().all(|j| (1..=MAX_FILE_RECORDS).contains(&j.records)));
        let small = jobs.iter().filter(|j| j.records < 50).count();
        let big = jobs.iter().filter(|j| j.records > 5_000).count();
        assert!(small > jobs.len() / 5, "{small} small of {}", jobs.len());
        assert!(big > 0);
        assert_eq!(plan(9, 1000, 2, 2, 0, 86_400_000), plan(9, 1000, 2, 2, 0, 86_400_000));
    }
}
