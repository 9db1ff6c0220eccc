//! Where the events are, and which match a query: the [`EventStore`] trait, its embedded
//! implementation (immutable segment files, [`EmbeddedStore`]) and durable ingestion state in SQLite
//! ([`State`]).
//!
//! Architecture Invariant: everything above this crate talks to [`EventStore`], never to segment files,
//! so a distributed engine can take over by implementing the trait.

mod builder;
mod codec;
mod embedded;
mod exec;
mod idfilter;
mod merge;
mod segfile;
mod segment;
mod sources;
mod state;
mod terms;
mod ui_state;
mod users;

use serde::Serialize;
use trailwatch_cloudtrail::Event;
use trailwatch_query::{KnownField, Query};

pub use embedded::{EmbeddedStore, StoreOptions};
pub use state::{Checkpoint, DeadLetterRow, FileRecord, OutboxRow, SignalFilter, SignalRow, State};
pub use ui_state::{DashboardRow, RuleSwitch, SourceSummary};
pub use users::{SessionRow, TokenRow, UserRow};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("index directory: {0}")]
    Directory(String),
    #[error("state database: {0}")]
    State(String),
    #[error("query: {0}")]
    Query(String),
    #[error("{0}")]
    Invalid(String),
    #[error("stored event {id} cannot be read back: {reason}")]
    Corrupt { id: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An event on its way into the store. Its record's original bytes (`event.raw.bytes()`) are
/// stored as they are.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: Event,
}

/// What adding a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AddStats {
    pub added: u64,
    /// Events whose id was already stored or already in this uncommitted batch.
    pub duplicates: u64,
}

/// A half-open time window `[from, to)` in milliseconds; `None` is open-ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    pub range: TimeRange,
    /// Events on the page; 0 asks only for the count (`total`), without ordering the matches
    /// or decoding any record.
    pub limit: usize,
    pub offset: usize,
    pub order: Order,
}

/// An event read back from the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    /// The original record, as JSON text.
    pub record: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// How many events match in all (not only on this page).
    pub total: u64,
    pub events: Vec<StoredEvent>,
    /// The tail cursor of the store as searched: [`EventStore::tail`] after it returns exactly
    /// the events committed since (none of these, none missed).
    pub cursor: u64,
}

/// What [`EventStore::tail`] found: events committed after a cursor.
#[derive(Debug, Clone, Serialize)]
pub struct TailPage {
    /// In commit order (then by event time): the last `limit` of the new matching events when
    /// there are more.
    pub events: Vec<StoredEvent>,
    /// Where the next call continues: past every event committed so far.
    pub cursor: u64,
    /// How many matching events were committed after the cursor given (not only those here).
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct FacetRequest {
    pub query: Query,
    pub range: TimeRange,
    pub field: KnownField,
    /// How many top values to return.
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FacetResult {
    pub field: &'static str,
    /// Top values, most frequent first (ties by value).
    pub values: Vec<FacetValue>,
    /// Values counted but not among the top ones (a multi-valued field counts each value).
    pub other: u64,
    /// Matching events without the field.
    pub missing: u64,
}

#[derive(Debug, Clone)]
pub struct HistogramRequest {
    pub query: Query,
    /// Must be closed on both ends.
    pub range: TimeRange,
    pub interval_ms: i64,
    /// Split by the top values of this field (how many series).
    pub by: Option<(KnownField, usize)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The split value; `None` for the whole count, or for everything else when split.
    pub value: Option<String>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    /// Start of the first bucket (aligned to the interval), in milliseconds.
    pub start: i64,
    pub interval_ms: i64,
    pub series: Vec<Series>,
}

/// Size and shape of the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    pub events: u64,
    pub segments: usize,
    pub index_bytes: u64,
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// The events, stored and searchable. Implementations must be safe to share between threads;
/// only one process at a time may add events to a store.
pub trait EventStore: Send + Sync {
    /// Adds events, dropping those whose id is already stored or pending. They become visible
    /// and durable at the next [`EventStore::commit`].
    fn add(&self, events: Vec<NewEvent>) -> Result<AddStats> {
        self.add_inspect(events, &mut |_| {})
    }
    /// [`EventStore::add`], calling `inspect` with every event that is not a duplicate, in
    /// order, before it is stored: detection sees each event once, however often it is read.
    fn add_inspect(&self, events: Vec<NewEvent>, inspect: &mut dyn FnMut(&Event)) -> Result<AddStats>;
    /// Makes every event added so far durable and searchable.
    fn commit(&self) -> Result<()>;
    /// Completes background work (segment merges) before the process ends.
    fn finish(&self) -> Result<()> {
        Ok(())
    }
    fn search(&self, request: &SearchRequest) -> Result<SearchResult>;
    fn count(&self, query: &Query, range: TimeRange) -> Result<u64>;
    fn facets(&self, request: &FacetRequest) -> Result<FacetResult>;
    fn histogram(&self, request: &HistogramRequest) -> Result<Histogram>;
    /// The events matching `query` that were committed after the cursor `after` (from a
    /// [`TailPage`] or a [`SearchResult`]), whatever their event time: late events included.
    /// `None` is "from now": no events, and the current cursor.
    fn tail(&self, query: &Query, after: Option<u64>, limit: usize) -> Result<TailPage>;
    /// One event by id.
    fn get(&self, id: &str) -> Result<Option<StoredEvent>>;
    /// Deletes events older than `cutoff` (milliseconds) and commits; returns how many.
    fn delete_before(&self, cutoff: i64) -> Result<u64>;
    fn stats(&self) -> Result<StoreStats>;
}

/// A histogram interval giving at most about 40 buckets over `span` milliseconds (what
/// `trailwatch histogram` and the API use when none is given).
pub fn auto_interval(span: i64) -> i64 {
    const STEPS: [i64; 12] = [
        1_000,
        10_000,
        60_000,
        300_000,
        900_000,
        1_800_000,
        3_600_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        604_800_000,
    ];
    STEPS.iter().copied().find(|s| span / s <= 40).unwrap_or(2_592_000_000)
}

/// Fields that facets and histogram splits accept.
pub fn facetable_fields() -> impl Iterator<Item = KnownField> {
    terms::columns()
}

/// A stable 64-bit hash of an event id (lowercased, as the id keyword is indexed). Stable across
/// versions: it is stored (segment id columns, detection's pending batch).
pub fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= b.to_ascii_lowercase() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finalizer: spreads FNV's weak low bits for the bloom filter.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
