//! Collectors for facets (top values of a field) and time histograms, reading fast columns.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// Counts documents per value of a string column, and documents without a value.
pub struct FacetCollector {
    pub column: String,
}

pub struct FacetSegment {
    column: Option<StrColumn>,
    counts: Vec<u64>,
    missing: u64,
}

/// Per-value counts merged across segments, and the count of documents with no value.
#[derive(Debug, Default)]
pub struct FacetFruit {
    pub counts: HashMap<String, u64>,
    pub missing: u64,
    pub total: u64,
}

impl Collector for FacetCollector {
    type Fruit = FacetFruit;
    type Child = FacetSegment;

    fn for_segment(&self, _: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<FacetSegment> {
        let column = reader.fast_fields().str(&self.column)?;
        let n = column.as_ref().map_or(0, |c| c.num_terms());
        Ok(FacetSegment { column, counts: vec![0; n], missing: 0 })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetFruit>) -> tantivy::Result<FacetFruit> {
        let mut out = FacetFruit::default();
        for f in fruits {
            out.missing += f.missing;
            out.total += f.total;
            for (k, v) in f.counts {
                *out.counts.entry(k).or_default() += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = FacetFruit;

    fn collect(&mut self, doc: DocId, _: Score) {
        let mut any = false;
        if let Some(c) = &self.column {
            for ord in c.term_ords(doc) {
                self.counts[ord as usize] += 1;
                any = true;
            }
        }
        if !any {
            self.missing += 1;
        }
    }

    fn harvest(self) -> FacetFruit {
        let mut out = FacetFruit { missing: self.missing, ..FacetFruit::default() };
        out.total = self.missing;
        if let Some(c) = &self.column {
            // One sequential pass over the dictionary: much cheaper than a lookup per ordinal
            // when a field has many values.
            if let Ok(mut terms) = c.dictionary().stream() {
                while terms.advance() {
                    let n = self.counts[terms.term_ord() as usize];
                    if n > 0 {
                        out.counts.insert(String::from_utf8_lossy(terms.key()).into_owned(), n);
                        out.total += n;
                    }
                }
            }
        }
        out
    }
}

/// Counts documents per time bucket, optionally split by the values of a string column
/// (only the values in `keep`; the rest count as `other`).
pub struct HistogramCollector {
    pub time_column: String,
    pub start: i64,
    pub interval: i64,
    pub buckets: usize,
    pub split: Option<(String, Vec<String>)>,
}

pub struct HistogramSegment {
    time: Column<i64>,
    start: i64,
    interval: i64,
    buckets: usize,
    /// Series per split ordinal (segment ordinals mapped to kept values), plus one for the rest.
    split: Option<(Option<StrColumn>, Vec<Option<usize>>)>,
    series: usize,
    counts: Vec<u64>,
}

/// `counts[series][bucket]`; series are the kept values in order, then `other` when split.
#[derive(Debug, Default)]
pub struct HistogramFruit {
    pub counts: Vec<Vec<u64>>,
}

impl Collector for HistogramCollector {
    type Fruit = HistogramFruit;
    type Child = HistogramSegment;

    fn for_segment(&self, _: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<HistogramSegment> {
        let time = reader.fast_fields().i64(&self.time_column)?;
        let (split, series) = match &self.split {
            None => (None, 1),
            Some((col, keep)) => {
                let series = keep.len() + 1;
                match reader.fast_fields().str(col)? {
                    None => (Some((None, Vec::new())), series),
                    Some(c) => {
                        let mut map = vec![None; c.num_terms()];
                        let mut s = String::new();
                        for (ord, slot) in map.iter_mut().enumerate() {
                            if c.ord_to_str(ord as u64, &mut s)? {
                                *slot = keep.iter().position(|k| *k == s);
                            }
                        }
                        (Some((Some(c), map)), series)
                    }
                }
            }
        };
        Ok(HistogramSegment {
            time,
            start: self.start,
            interval: self.interval,
            buckets: self.buckets,
            split,
            series,
            counts: vec![0; series * self.buckets],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<HistogramFruit>) -> tantivy::Result<HistogramFruit> {
        let series = if let Some((_, keep)) = &self.split { keep.len() + 1 } else { 1 };
        let mut out = vec![vec![0u64; self.buckets]; series];
        for f in fruits {
            for (s, row) in f.counts.into_iter().enumerate() {
                for (b, n) in row.into_iter().enumerate() {
                    out[s][b] += n;
                }
            }
        }
        Ok(HistogramFruit { counts: out })
    }
}

impl SegmentCollector for HistogramSegment {
    type Fruit = HistogramFruit;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(t) = self.time.first(doc) else { return };
        if t < self.start {
            return;
        }
        let bucket = ((t - self.start) / self.interval) as usize;
        if bucket >= self.buckets {
            return;
        }
        match &self.split {
            None => self.counts[bucket] += 1,
            Some((col, map)) => {
                let other = self.series - 1;
                let mut any = false;
                if let Some(col) = col {
                    for ord in col.term_ords(doc) {
                        let s = map[ord as usize].unwrap_or(other);
                        self.counts[s * self.buckets + bucket] += 1;
                        any = true;
                    }
                }
                if !any {
                    self.counts[other * self.buckets + bucket] += 1;
                }
            }
        }
    }

    fn harvest(self) -> HistogramFruit {
        HistogramFruit { counts: self.counts.chunks(self.buckets.max(1)).map(|c| c.to_vec()).collect() }
    }
}
