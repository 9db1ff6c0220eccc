//! The embedded default store: a tantivy index in one directory, needing no setup.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query as TQuery, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};
use trailwatch_cloudtrail::{normalize, RecordContext};
use trailwatch_query::{text, KnownField, Query};

use crate::collect::{FacetCollector, HistogramCollector};
use crate::document::EventDoc;
use crate::idfilter::IdFilter;
use crate::schema::{self, column_name, id_hash, Fields};
use crate::{
    AddStats, Error, EventStore, FacetRequest, FacetResult, FacetValue, Histogram, HistogramRequest,
    NewEvent, Order, Result, SearchRequest, SearchResult, Series, StoreStats, StoredEvent, TimeRange,
};

/// Segments with more events than this are not merged further.
pub const MAX_MERGED_DOCS: usize = 2_000_000;

/// Most buckets a histogram may have.
pub const MAX_BUCKETS: usize = 10_000;

/// How the embedded store uses the machine.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Indexing memory, split among the writer threads (tantivy flushes a segment when a
    /// thread's share fills up).
    pub writer_memory_bytes: usize,
    pub writer_threads: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        StoreOptions { writer_memory_bytes: 96 << 20, writer_threads: threads }
    }
}

pub struct EmbeddedStore {
    dir: PathBuf,
    index: Index,
    fields: Arc<Fields>,
    reader: IndexReader,
    options: StoreOptions,
    /// Taken on the first write, so that searching processes never hold the index lock.
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    inner: IndexWriter<EventDoc>,
    filter: IdFilter,
    /// Id hashes added since the last commit (not yet visible to the searcher).
    pending: HashSet<u64>,
}

impl EmbeddedStore {
    /// Opens the store in `dir`, creating it when empty.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<EmbeddedStore> {
        let index_dir = dir.join("index");
        std::fs::create_dir_all(&index_dir)
            .map_err(|e| Error::Directory(format!("cannot create {}: {e}", index_dir.display())))?;
        let mmap = MmapDirectory::open(&index_dir)
            .map_err(|e| Error::Directory(format!("cannot open {}: {e}", index_dir.display())))?;
        let (schema, fields) = schema::build();
        let exists = Index::exists(&mmap)
            .map_err(|e| Error::Directory(format!("cannot read {}: {e}", index_dir.display())))?;
        let index = if exists {
            let index = Index::open(mmap)?;
            if index.schema() != schema {
                return Err(Error::Directory(format!(
                    "the index in {} was written by another version of trailwatch; ingest again into a new data directory",
                    index_dir.display()
                )));
            }
            index
        } else {
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor { compression_level: Some(3) }),
                docstore_blocksize: 64 * 1024,
                ..IndexSettings::default()
            };
            Index::builder().schema(schema).settings(settings).open_or_create(mmap)?
        };
        let mut index = index;
        crate::tokenizers::register(&index);
        // Segments are searched in parallel: full-scan facets and histograms use every core.
        index.set_default_multithread_executor()?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(EmbeddedStore {
            dir: dir.to_owned(),
            index,
            fields: Arc::new(fields),
            reader,
            options,
            writer: Mutex::new(None),
        })
    }

    /// Sees commits made by another process since this store was opened or last refreshed.
    pub fn refresh(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    fn writer(&self) -> Result<MutexGuard<'_, Option<Writer>>> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let inner = self
                .index
                .writer_with_num_threads::<EventDoc>(
                    self.options.writer_threads,
                    self.options.writer_memory_bytes,
                )
                .map_err(|e| match e {
                    tantivy::TantivyError::LockFailure(..) => Error::Directory(format!(
                        "another trailwatch process is writing to {}",
                        self.dir.display()
                    )),
                    e => Error::Index(e),
                })?;
            // Segments stop growing by merges at MAX_MERGED_DOCS: merging huge segments costs
            // memory that grows with the store, and rewrites the same events again and again.
            let mut policy = tantivy::indexer::LogMergePolicy::default();
            policy.set_max_docs_before_merge(MAX_MERGED_DOCS);
            inner.set_merge_policy(Box::new(policy));
            // The writer may see commits the reader has not loaded yet.
            self.reader.reload()?;
            let filter = self.build_filter(0)?;
            *guard = Some(Writer { inner, filter, pending: HashSet::new() });
        }
        Ok(guard)
    }

    /// A Bloom filter of every stored id (and `extra` room to grow).
    fn build_filter(&self, extra: u64) -> Result<IdFilter> {
        let searcher = self.reader.searcher();
        let docs: u64 = searcher.segment_readers().iter().map(|s| s.max_doc() as u64).sum();
        let mut filter = IdFilter::with_capacity((docs + extra).max(1 << 20) * 2);
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64("id_hash")?;
            for doc in 0..segment.max_doc() {
                if let Some(h) = column.first(doc) {
                    filter.insert(h);
                }
            }
        }
        Ok(filter)
    }

    /// Whether an event with this id is committed.
    fn is_stored(&self, searcher: &Searcher, id: &str) -> Result<bool> {
        let Some(k) = text::keyword(id) else { return Ok(false) };
        let field = self.fields.keyword(KnownField::Id).expect("id is a keyword field");
        let q = TermQuery::new(Term::from_field_text(field, &k), IndexRecordOption::Basic);
        Ok(searcher.search(&q, &Count)? > 0)
    }

    fn translate(&self, query: &Query, range: TimeRange) -> Result<Box<dyn TQuery>> {
        let q = crate::translate::translate(query, &self.fields)?;
        if range.from.is_none() && range.to.is_none() {
            return Ok(q);
        }
        let lo = range.from.map_or(std::ops::Bound::Unbounded, |t| {
            std::ops::Bound::Included(Term::from_field_i64(self.fields.time, t))
        });
        let hi = range.to.map_or(std::ops::Bound::Unbounded, |t| {
            std::ops::Bound::Excluded(Term::from_field_i64(self.fields.time, t))
        });
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Must, q),
            (Occur::Must, Box::new(RangeQuery::new(lo, hi))),
        ])))
    }

    fn read_event(&self, doc: &TantivyDocument) -> Result<StoredEvent> {
        let bytes = doc.get_first(self.fields.record).and_then(|v| v.as_bytes()).unwrap_or_default();
        let text_of = |f: KnownField| {
            self.fields
                .keyword(f)
                .and_then(|field| doc.get_first(field))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let ctx = RecordContext {
            account: text_of(KnownField::Account),
            region: text_of(KnownField::Region),
            received: doc.get_first(self.fields.received).and_then(|v| v.as_i64()).unwrap_or(0),
        };
        let corrupt = |reason: String| Error::Corrupt {
            id: String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned(),
            reason,
        };
        let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        let event = normalize(raw, bytes, &ctx).map_err(|e| corrupt(e.to_string()))?;
        Ok(StoredEvent { record: event.raw.clone(), event })
    }

    /// Bytes used by the index files.
    pub fn index_bytes(&self) -> u64 {
        std::fs::read_dir(self.dir.join("index"))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
            })
            .unwrap_or(0)
    }

    /// Blocks until background merges finish (used before measuring the index size).
    pub fn wait_merges(&self) -> Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = guard.take() {
            w.inner.wait_merging_threads()?;
        }
        Ok(())
    }
}

impl EventStore for EmbeddedStore {
    fn add(&self, events: Vec<NewEvent>) -> Result<AddStats> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        let searcher = self.reader.searcher();
        let mut stats = AddStats::default();
        for NewEvent { event, record } in events {
            let h = id_hash(&event.id);
            if w.pending.contains(&h)
                || (w.filter.maybe_contains(h) && self.is_stored(&searcher, &event.id)?)
            {
                stats.duplicates += 1;
                continue;
            }
            w.inner.add_document(EventDoc::new(self.fields.clone(), event, record))?;
            w.pending.insert(h);
            w.filter.insert(h);
            stats.added += 1;
        }
        if w.filter.is_full() {
            // Rebuild larger from what is committed, plus what is pending.
            let mut filter = self.build_filter(w.filter.capacity() * 2)?;
            w.pending.iter().for_each(|h| filter.insert(*h));
            w.filter = filter;
        }
        Ok(stats)
    }

    fn commit(&self) -> Result<()> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        w.inner.commit()?;
        self.reader.reload()?;
        w.pending.clear();
        Ok(())
    }

    fn search(&self, req: &SearchRequest) -> Result<SearchResult> {
        let q = self.translate(&req.query, req.range)?;
        let searcher = self.reader.searcher();
        let order = match req.order {
            Order::NewestFirst => tantivy::Order::Desc,
            Order::OldestFirst => tantivy::Order::Asc,
        };
        let top = TopDocs::with_limit(req.limit.max(1))
            .and_offset(req.offset)
            .order_by_fast_field::<i64>("time", order);
        let (docs, total) = searcher.search(&q, &(top, Count))?;
        let mut events = Vec::with_capacity(docs.len());
        for (_, addr) in docs.into_iter().take(req.limit) {
            let doc: TantivyDocument = searcher.doc(addr)?;
            events.push(self.read_event(&doc)?);
        }
        Ok(SearchResult { total: total as u64, events })
    }

    fn count(&self, query: &Query, range: TimeRange) -> Result<u64> {
        let q = self.translate(query, range)?;
        Ok(self.reader.searcher().search(&q, &Count)? as u64)
    }

    fn facets(&self, req: &FacetRequest) -> Result<FacetResult> {
        if !schema::is_facetable(req.field) {
            return Err(Error::Invalid(format!(
                "{} cannot be faceted; facetable fields: {}",
                req.field.name(),
                crate::facetable_fields().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        let q = self.translate(&req.query, req.range)?;
        let fruit = self.reader.searcher().search(&q, &FacetCollector { column: column_name(req.field) })?;
        let mut values: Vec<FacetValue> =
            fruit.counts.into_iter().map(|(value, count)| FacetValue { value, count }).collect();
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let other = values.iter().skip(req.size).map(|v| v.count).sum();
        values.truncate(req.size);
        Ok(FacetResult { field: req.field.name(), values, other, missing: fruit.missing })
    }

    fn histogram(&self, req: &HistogramRequest) -> Result<Histogram> {
        let (Some(from), Some(to)) = (req.range.from, req.range.to) else {
            return Err(Error::Invalid("a histogram needs a time range closed on both ends".into()));
        };
        if req.interval_ms <= 0 {
            return Err(Error::Invalid("the histogram interval must be positive".into()));
        }
        let start = from.div_euclid(req.interval_ms) * req.interval_ms;
        let buckets = ((to - start).max(0) as u64).div_ceil(req.interval_ms as u64) as usize;
        if buckets > MAX_BUCKETS {
            return Err(Error::Invalid(format!(
                "{buckets} buckets is too many (at most {MAX_BUCKETS}): choose a larger interval or a shorter range"
            )));
        }
        let keep = match req.by {
            None => None,
            Some((field, top)) => {
                let facets = self.facets(&FacetRequest {
                    query: req.query.clone(),
                    range: req.range,
                    field,
                    size: top,
                })?;
                Some((column_name(field), facets.values.into_iter().map(|v| v.value).collect::<Vec<_>>()))
            }
        };
        let q = self.translate(&req.query, req.range)?;
        let collector = HistogramCollector {
            time_column: "time".into(),
            start,
            interval: req.interval_ms,
            buckets,
            split: keep.clone(),
        };
        let fruit = self.reader.searcher().search(&q, &collector)?;
        let mut series = Vec::new();
        match keep {
            None => series
                .push(Series { value: None, counts: fruit.counts.into_iter().next().unwrap_or_default() }),
            Some((_, names)) => {
                let mut rows = fruit.counts.into_iter();
                for name in names {
                    series.push(Series { value: Some(name), counts: rows.next().unwrap_or_default() });
                }
                if let Some(other) = rows.next().filter(|r| r.iter().any(|n| *n > 0)) {
                    series.push(Series { value: None, counts: other });
                }
            }
        }
        Ok(Histogram { start, interval_ms: req.interval_ms, series })
    }

    fn get(&self, id: &str) -> Result<Option<StoredEvent>> {
        let Some(k) = text::keyword(id) else { return Ok(None) };
        let field = self.fields.keyword(KnownField::Id).expect("id is a keyword field");
        let q = TermQuery::new(Term::from_field_text(field, &k), IndexRecordOption::Basic);
        let searcher = self.reader.searcher();
        let docs = searcher.search(&q, &TopDocs::with_limit(1).order_by_score())?;
        match docs.first() {
            Some((_, addr)) => Ok(Some(self.read_event(&searcher.doc(*addr)?)?)),
            None => Ok(None),
        }
    }

    fn delete_before(&self, cutoff: i64) -> Result<u64> {
        let n = self.count(&Query::All, TimeRange { from: None, to: Some(cutoff) })?;
        if n == 0 {
            return Ok(0);
        }
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        let upper = std::ops::Bound::Excluded(Term::from_field_i64(self.fields.time, cutoff));
        w.inner.delete_query(Box::new(RangeQuery::new(std::ops::Bound::Unbounded, upper)))?;
        w.inner.commit()?;
        self.reader.reload()?;
        w.pending.clear();
        Ok(n)
    }

    fn stats(&self) -> Result<StoreStats> {
        let searcher = self.reader.searcher();
        let (mut oldest, mut newest) = (None::<i64>, None::<i64>);
        for s in searcher.segment_readers() {
            if s.num_docs() == 0 {
                continue;
            }
            let col = s.fast_fields().i64("time")?;
            oldest = Some(oldest.map_or(col.min_value(), |o| o.min(col.min_value())));
            newest = Some(newest.map_or(col.max_value(), |o| o.max(col.max_value())));
        }
        Ok(StoreStats {
            events: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
            index_bytes: self.index_bytes(),
            oldest,
            newest,
        })
    }
}
