//! Synthetic CloudTrail datasets in the real S3 layout, for benchmarks and demos.
//!
//! [`generate`] writes gzip files of `{"Records":[...]}` under
//! `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`, with records shaped
//! like real ones: many services and principals with Zipf-skewed activity, a few percent of
//! failed calls, console sign-ins, data events. Output depends only on the configuration: the
//! same seed gives the same bytes whatever the number of threads.

mod actions;
mod agents;
mod catalog;
mod identity;
mod layout;
mod plan;
mod pools;
mod record;
mod template;
mod util;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::Rng;

use crate::catalog::Catalog;
use crate::layout::{Delivery, RecordWriter};
use crate::plan::{FileJob, WINDOW_MS};
use crate::pools::Pools;
use crate::record::{Account, Stream};
use crate::util::rng_for;

pub use crate::plan::MAX_FILE_RECORDS;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub seed: u64,
    /// Total number of records.
    pub events: u64,
    /// Twelve-digit account ids; the first is the busiest.
    pub accounts: Vec<String>,
    /// Region names; the first is each account's busiest, and holds global-service events when
    /// `us-east-1` is not listed.
    pub regions: Vec<String>,
    /// Start of the covered period, milliseconds since the epoch.
    pub start_ms: i64,
    pub duration_ms: i64,
    /// Share of calls that fail with an `errorCode` (0.04 is typical).
    pub error_rate: f64,
    /// An organization id (`o-...`) for the organization-trail layout.
    pub org_id: Option<String>,
    /// Key prefix before `AWSLogs/` (may be empty).
    pub prefix: String,
}

impl SynthConfig {
    /// Defaults for benchmarks: three accounts, four regions, an organization trail, three days
    /// starting 2024-07-29 (a Monday), 4% errors.
    pub fn benchmark(events: u64) -> SynthConfig {
        SynthConfig {
            seed: 0x7261_696c,
            events,
            accounts: vec!["111122223333".into(), "444455556666".into(), "777788889999".into()],
            regions: vec![
                "us-east-1".into(),
                "eu-west-1".into(),
                "us-west-2".into(),
                "ap-southeast-2".into(),
            ],
            start_ms: 1_722_211_200_000,
            duration_ms: 3 * 86_400_000,
            error_rate: 0.04,
            org_id: Some("o-a1b2c3d4e5".into()),
            prefix: "trail".into(),
        }
    }

    fn validate(&self) -> Result<(), SynthError> {
        let bad = |why: String| Err(SynthError::Config(why));
        if self.accounts.is_empty() {
            return bad("at least one account is needed".into());
        }
        if let Some(a) =
            self.accounts.iter().find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad(format!("account id {a:?} is not twelve digits"));
        }
        if self.regions.is_empty() {
            return bad("at least one region is needed".into());
        }
        if let Some(r) = self
            .regions
            .iter()
            .find(|r| r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return bad(format!("region {r:?} is not a region name"));
        }
        if self.duration_ms <= 0 {
            return bad(format!("duration {} ms is not positive", self.duration_ms));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return bad(format!("error rate {} is not between 0 and 1", self.error_rate));
        }
        if let Some(org) = &self.org_id {
            if !org.starts_with("o-") || org.contains('/') {
                return bad(format!("organization id {org:?} does not look like o-xxxxxxxxxx"));
            }
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub events: u64,
    /// Size of the gzip files on disk.
    pub gz_bytes: u64,
    /// Size of the JSON inside them.
    pub json_bytes: u64,
    /// Records with an `errorCode`.
    pub errors: u64,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.files += other.files;
        self.events += other.events;
        self.gz_bytes += other.gz_bytes;
        self.json_bytes += other.json_bytes;
        self.errors += other.errors;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth config: {0}")]
    Config(String),
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = SynthError> = std::result::Result<T, E>;

struct Shared<'a> {
    config: &'a SynthConfig,
    out_dir: &'a Path,
    catalog: Catalog,
    accounts: Vec<Account>,
    home_region: usize,
}

/// Writes the dataset described by `config` under `out_dir` (created if missing).
pub fn generate(config: &SynthConfig, out_dir: &Path) -> Result<Summary> {
    config.validate()?;
    let catalog = Catalog::new(actions::SPECS).map_err(SynthError::Config)?;
    let accounts = config
        .accounts
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let pools = Pools::new(id, &mut rng_for(config.seed, 0xACC0_0000 + i as u64));
            let (principals, principal_skew) =
                identity::principals(id, &pools, &mut rng_for(config.seed, 0x1D00_0000 + i as u64));
            Account { id: id.clone(), pools, principals, principal_skew }
        })
        .collect();
    let home_region = config.regions.iter().position(|r| r == "us-east-1").unwrap_or(0);
    let shared = Shared { config, out_dir, catalog, accounts, home_region };

    let mut jobs = plan::plan(
        config.seed,
        config.events,
        config.accounts.len(),
        config.regions.len(),
        config.start_ms,
        config.duration_ms,
    );
    // Biggest files first so the threads finish together.
    jobs.sort_by(|a, b| b.records.cmp(&a.records).then(a.index.cmp(&b.index)));

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<SynthError>> = Mutex::new(None);
    let total = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Summary::default();
                let mut made = HashSet::new();
                let mut scratch = Scratch::default();
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    match write_job(&shared, job, &mut made, &mut scratch) {
                        Ok(s) => mine.add(&s),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        }
                    }
                }
                total.lock().unwrap_or_else(|p| p.into_inner()).add(&mine);
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(total.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Buffers a worker reuses from file to file.
#[derive(Default)]
struct Scratch {
    times: Vec<i64>,
    record: Vec<u8>,
}

fn write_job(
    shared: &Shared<'_>,
    job: &FileJob,
    made: &mut HashSet<PathBuf>,
    scratch: &mut Scratch,
) -> Result<Summary> {
    let config = shared.config;
    let mut rng = rng_for(config.seed, 0xF11E_0000_0000 ^ job.index);
    let window_end = (job.window_start + WINDOW_MS).min(config.start_ms + config.duration_ms);
    let span = (window_end - job.window_start).max(1);
    scratch.times.clear();
    scratch.times.extend((0..job.records).map(|_| job.window_start + rng.random_range(0..span)));
    scratch.times.sort_unstable();
    let last = scratch.times.last().copied().unwrap_or(job.window_start);

    let account = &shared.accounts[job.account];
    let region = &config.regions[job.region];
    let delivery = Delivery {
        prefix: &config.prefix,
        org_id: config.org_id.as_deref(),
        account: &account.id,
        region,
        delivered_ms: last + rng.random_range(60_000..600_000),
    };
    let folder = delivery.folder(shared.out_dir);
    if !made.contains(&folder) {
        std::fs::create_dir_all(&folder).map_err(|source| SynthError::Io { path: folder.clone(), source })?;
        made.insert(folder.clone());
    }
    let path = folder.join(delivery.file_name(&mut rng));

    let stream = Stream {
        account,
        accounts: &config.accounts,
        region,
        home: job.region == shared.home_region,
        catalog: &shared.catalog,
        error_rate: config.error_rate,
    };
    let mut writer = RecordWriter::create(path)?;
    let mut errors = 0;
    for &t in &scratch.times {
        scratch.record.clear();
        errors += u64::from(stream.push_record(&mut scratch.record, &mut rng, t));
        writer.push(&scratch.record)?;
    }
    let written = writer.finish()?;
    Ok(Summary {
        files: 1,
        events: job.records,
        gz_bytes: written.gz_bytes,
        json_bytes: written.json_bytes,
        errors,
    })
}
