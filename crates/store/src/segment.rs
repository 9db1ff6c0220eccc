//! A segment file, memory-mapped and read in place: the term dictionary and postings, the
//! columns, and the record blocks. Everything read from the file is bounds-checked once at
//! open or on each read, so a damaged file gives [`crate::Error::Directory`], not a panic.

use std::cmp::Ordering;
use std::path::Path;

use memmap2::Mmap;
use roaring::RoaringBitmap;
use trailwatch_query::KnownField;

use crate::codec::{damaged, i64_at, u32_at, u64_at, unpack, Cursor};
use crate::segfile::*;
use crate::terms::columns;
use crate::{Error, Result};

/// One decompressed block of records: its first document, the bytes, and per document where
/// its record starts, the record's length and the title's length (the title follows).
pub struct Block {
    pub first: u32,
    pub raw: Vec<u8>,
    pub spans: Vec<(usize, usize, usize)>,
}

impl Block {
    /// The record bytes and title of a document of this block.
    pub fn doc(&self, doc: u32) -> Result<(&[u8], &str)> {
        let (at, r, t) = *doc
            .checked_sub(self.first)
            .and_then(|i| self.spans.get(i as usize))
            .ok_or_else(|| damaged("record block"))?;
        let title = std::str::from_utf8(&self.raw[at + r..at + r + t]).map_err(|_| damaged("title"))?;
        Ok((&self.raw[at..at + r], title))
    }
}

/// Walks a dictionary in order.
pub struct TermIter<'a> {
    cursor: Cursor<'a>,
    pub term: Vec<u8>,
}

impl TermIter<'_> {
    /// Moves to the next term (then in `self.term`).
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        let c = &mut self.cursor;
        if c.is_done() {
            return Ok(None);
        }
        let shared = c.varint()? as usize;
        let len = c.varint()? as usize;
        if shared > self.term.len() {
            return Err(damaged("dictionary prefix"));
        }
        self.term.truncate(shared);
        self.term.extend_from_slice(c.take(len)?);
        let df = c.varint()? as u32;
        let at = c.varint()?;
        Ok(Some(Entry { df, at }))
    }
}

/// A term's entry in the dictionary.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub df: u32,
    /// The document (df 1) or the postings offset.
    pub at: u64,
}

pub struct ColumnInfo {
    pub field: KnownField,
    multi: bool,
    nvalues: u32,
    /// Offsets (nvalues + 1 u32) into `bytes`.
    offsets: (usize, usize),
    bytes: (usize, usize),
    bits: u32,
    starts: (usize, usize),
    ords: (usize, usize),
}

pub struct Segment {
    pub name: String,
    map: Mmap,
    pub docs: u32,
    pub min_time: i64,
    pub max_time: i64,
    sections: [(usize, usize); SECTIONS],
    columns: Vec<ColumnInfo>,
    dict_blocks: usize,
    record_blocks: usize,
}

impl Segment {
    pub fn open(path: &Path, name: &str) -> Result<Segment> {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Directory(format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: segment files are written once, synced, and never modified afterwards; they
        // are only deleted (which leaves an existing mapping valid on Unix).
        let map = unsafe { Mmap::map(&file) }
            .map_err(|e| Error::Directory(format!("cannot map {}: {e}", path.display())))?;
        let footer_len = SECTIONS * 16 + MAGIC.len();
        if map.len() < MAGIC.len() + footer_len || &map[..8] != MAGIC || &map[map.len() - 8..] != MAGIC {
            return Err(Error::Directory(format!("{} is not a trailwatch segment", path.display())));
        }
        let mut c = Cursor::at(&map, map.len() - footer_len);
        let mut sections = [(0usize, 0usize); SECTIONS];
        for s in &mut sections {
            let (off, len) = (c.u64()? as usize, c.u64()? as usize);
            if off.checked_add(len).is_none_or(|end| end > map.len() - footer_len) {
                return Err(damaged("section out of bounds"));
            }
            *s = (off, off + len);
        }
        let mut seg = Segment {
            name: name.to_owned(),
            docs: 0,
            min_time: 0,
            max_time: 0,
            sections,
            columns: Vec::new(),
            dict_blocks: 0,
            record_blocks: 0,
            map,
        };
        let mut m = Cursor::new(seg.section(S_META));
        let (docs, min_time, max_time) = (m.u32()?, m.u64()? as i64, m.u64()? as i64);
        (seg.docs, seg.min_time, seg.max_time) = (docs, min_time, max_time);
        let n = seg.docs as usize;
        for s in [S_TIME, S_RECEIVED, S_ID_HASH, S_IDS_SORTED] {
            if seg.section(s).len() != n * 8 {
                return Err(damaged("column length"));
            }
        }
        seg.columns = seg.read_columns()?;
        if !seg.section(S_DICT_INDEX).len().is_multiple_of(4) {
            return Err(damaged("dictionary index"));
        }
        seg.dict_blocks = seg.section(S_DICT_INDEX).len() / 4;
        let ri = seg.section(S_RECORD_INDEX).len();
        if ri < 8 || !(ri - 8).is_multiple_of(12) {
            return Err(damaged("record index"));
        }
        seg.record_blocks = (ri - 8) / 12;
        Ok(seg)
    }

    pub fn section(&self, s: usize) -> &[u8] {
        let (a, b) = self.sections[s];
        &self.map[a..b]
    }

    fn read_columns(&self) -> Result<Vec<ColumnInfo>> {
        let base = self.sections[S_COLUMNS].0;
        let sec = self.section(S_COLUMNS);
        let fields: Vec<KnownField> = columns().collect();
        let mut c = Cursor::new(sec);
        let mut offsets = Vec::new();
        for _ in &fields {
            offsets.push(c.u64()? as usize);
        }
        let body = c.pos;
        let mut out = Vec::new();
        let n = self.docs as usize;
        for (field, off) in fields.into_iter().zip(offsets) {
            let mut c = Cursor::at(sec, body.checked_add(off).ok_or_else(|| damaged("column"))?);
            let multi = c.take(1)?[0] == 1;
            let nvalues = c.u32()?;
            let o_start = c.pos;
            c.take((nvalues as usize + 1) * 4)?;
            let offs = &sec[o_start..c.pos];
            let total = u32_at(offs, nvalues as usize) as usize;
            let b_start = c.pos;
            c.take(total)?;
            let bits = u32::from(c.take(1)?[0]);
            if bits > 32 {
                return Err(damaged("column bits"));
            }
            let (starts, count) = if multi {
                let s = c.pos;
                c.take((n + 1) * 4)?;
                let count = u32_at(&sec[s..c.pos], n) as usize;
                ((base + s, base + c.pos), count)
            } else {
                ((0, 0), n)
            };
            let p = c.pos;
            c.take(crate::codec::bitpacked_len(count, bits))?;
            out.push(ColumnInfo {
                field,
                multi,
                nvalues,
                offsets: (base + o_start, base + b_start),
                bytes: (base + b_start, base + b_start + total),
                bits,
                starts,
                ords: (base + p, base + c.pos),
            });
        }
        Ok(out)
    }

    pub fn column(&self, field: KnownField) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.field == field)
    }

    pub fn time(&self, doc: u32) -> i64 {
        i64_at(self.section(S_TIME), doc as usize)
    }

    pub fn received(&self, doc: u32) -> i64 {
        i64_at(self.section(S_RECEIVED), doc as usize)
    }

    pub fn id_hash(&self, doc: u32) -> u64 {
        u64_at(self.section(S_ID_HASH), doc as usize)
    }

    /// Whether some document here has an id with this hash (a binary search over the sorted
    /// hashes: it touches ~20 pages, where a dictionary lookup would touch the dictionary).
    pub fn may_hold(&self, hash: u64) -> bool {
        let sorted = self.section(S_IDS_SORTED);
        let (mut lo, mut hi) = (0usize, self.docs as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match u64_at(sorted, mid).cmp(&hash) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return true,
            }
        }
        false
    }

    /// The stored bytes of record block `b` (length, then zstd data) and its document count.
    pub fn sealed_block(&self, b: usize) -> Result<(&[u8], u32)> {
        let idx = self.section(S_RECORD_INDEX);
        let first = |b: usize| u32_at(&idx[b * 12..b * 12 + 4], 0);
        let off = |b: usize| u64_at(&idx[b * 12 + 4..b * 12 + 12], 0) as usize;
        let end = if b + 1 == self.record_blocks {
            u64_at(&idx[self.record_blocks * 12..], 0) as usize
        } else {
            off(b + 1)
        };
        let next_first = if b + 1 == self.record_blocks { self.docs } else { first(b + 1) };
        let recs = self.section(S_RECORDS);
        if off(b) > end || end > recs.len() || next_first < first(b) {
            return Err(damaged("record block"));
        }
        Ok((&recs[off(b)..end], next_first - first(b)))
    }

    /// Drops this process's mapping of the file's pages (they stay in the page cache and come
    /// back on the next read): a merge reads whole segments, which would otherwise all count as
    /// the process's resident memory.
    pub fn release_pages(&self) {
        // SAFETY: the mapping is private, read-only and of a file that is never written again,
        // so MADV_DONTNEED only drops clean pages, which are read back from the file if used.
        let _ = unsafe { self.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    }

    pub fn record_blocks(&self) -> usize {
        self.record_blocks
    }

    /// The sorted ordinal → value list of a column.
    pub fn values<'a>(&'a self, col: &'a ColumnInfo) -> impl Iterator<Item = &'a str> + 'a {
        (0..col.nvalues).map(move |o| self.value(col, o))
    }

    /// Every term with its entry, in order.
    pub fn terms(&self) -> TermIter<'_> {
        TermIter { cursor: Cursor::new(self.section(S_DICT)), term: Vec::new() }
    }

    /// The first term of dictionary block `b`.
    fn block_first(&self, b: usize) -> Result<&[u8]> {
        let dict = self.section(S_DICT);
        let mut c = Cursor::at(dict, u32_at(self.section(S_DICT_INDEX), b) as usize);
        let _shared = c.varint()?;
        let len = c.varint()? as usize;
        c.take(len)
    }

    /// Calls `f` with each term from the first one >= `from`, in order, until `f` returns false.
    pub fn scan(&self, from: &[u8], f: &mut dyn FnMut(&[u8], Entry) -> Result<bool>) -> Result<()> {
        if self.dict_blocks == 0 {
            return Ok(());
        }
        // The last block whose first term is <= from.
        let (mut lo, mut hi) = (0usize, self.dict_blocks);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.block_first(mid)? <= from {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let dict = self.section(S_DICT);
        let mut c = Cursor::at(dict, u32_at(self.section(S_DICT_INDEX), lo) as usize);
        let mut term: Vec<u8> = Vec::with_capacity(64);
        while !c.is_done() {
            let shared = c.varint()? as usize;
            let len = c.varint()? as usize;
            if shared > term.len() {
                return Err(damaged("dictionary prefix"));
            }
            term.truncate(shared);
            term.extend_from_slice(c.take(len)?);
            let df = c.varint()? as u32;
            let at = c.varint()?;
            if term.as_slice() >= from && !f(&term, Entry { df, at })? {
                break;
            }
        }
        Ok(())
    }

    pub fn find(&self, term: &[u8]) -> Result<Option<Entry>> {
        let mut found = None;
        self.scan(term, &mut |t, e| {
            if t == term {
                found = Some(e);
            }
            Ok(false)
        })?;
        Ok(found)
    }

    /// The documents of a term.
    pub fn postings(&self, e: Entry) -> Result<RoaringBitmap> {
        if e.df == 1 {
            let mut b = RoaringBitmap::new();
            b.insert(e.at as u32);
            return Ok(b);
        }
        let p = self.section(S_POSTINGS);
        let start = usize::try_from(e.at).ok().filter(|s| *s < p.len()).ok_or_else(|| damaged("postings"))?;
        if e.df < ROARING_MIN {
            let mut c = Cursor::at(p, start);
            let mut d = c.varint()? as u32;
            let mut docs = Vec::with_capacity(e.df as usize);
            docs.push(d);
            for _ in 1..e.df {
                d = d.checked_add(c.varint()? as u32).ok_or_else(|| damaged("postings"))?;
                docs.push(d);
            }
            RoaringBitmap::from_sorted_iter(docs).map_err(|_| damaged("postings order"))
        } else {
            RoaringBitmap::deserialize_from(&p[start..]).map_err(|e| damaged(&format!("postings: {e}")))
        }
    }

    pub fn term_docs(&self, term: &[u8]) -> Result<RoaringBitmap> {
        match self.find(term)? {
            Some(e) => self.postings(e),
            None => Ok(RoaringBitmap::new()),
        }
    }

    /// The union of the postings of every term in `[from, to)` accepted by `keep`.
    pub fn union_range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        keep: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let mut singles = Vec::new();
        self.scan(from, &mut |t, e| {
            if to.is_some_and(|to| t >= to) {
                return Ok(false);
            }
            if keep(t) {
                if e.df == 1 {
                    singles.push(e.at as u32);
                } else {
                    out |= self.postings(e)?;
                }
            }
            Ok(true)
        })?;
        singles.sort_unstable();
        singles.dedup();
        out |= RoaringBitmap::from_sorted_iter(singles).expect("sorted");
        Ok(out)
    }

    /// The record bytes and title of every document of block `b`, by document.
    pub fn block(&self, b: usize) -> Result<Block> {
        let idx = self.section(S_RECORD_INDEX);
        let first = Cursor::at(idx, b * 12).u32()?;
        let (stored, _) = self.sealed_block(b)?;
        let mut c = Cursor::new(stored);
        let raw_len = c.u32()? as usize;
        let raw = zstd::bulk::decompress(&stored[4..], raw_len)
            .map_err(|e| damaged(&format!("record block: {e}")))?;
        let mut h = Cursor::new(&raw);
        let count = h.u32()? as usize;
        let mut spans = Vec::with_capacity(count);
        let mut at = 4 + count.checked_mul(8).ok_or_else(|| damaged("record block"))?;
        for _ in 0..count {
            let (r, t) = (h.u32()? as usize, h.u32()? as usize);
            spans.push((at, r, t));
            at += r + t;
        }
        if at > raw.len() {
            return Err(damaged("record block lengths"));
        }
        Ok(Block { first, raw, spans })
    }

    /// The block holding `doc`.
    pub fn block_of(&self, doc: u32) -> Result<usize> {
        let idx = self.section(S_RECORD_INDEX);
        let first = |b: usize| u32_at(&idx[b * 12..b * 12 + 4], 0);
        let (mut lo, mut hi) = (0usize, self.record_blocks);
        if hi == 0 {
            return Err(damaged("no record blocks"));
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            match first(mid).cmp(&doc) {
                Ordering::Greater => hi = mid,
                _ => lo = mid,
            }
        }
        Ok(lo)
    }

    /// A column's values for a document (original case), by sorted ordinal.
    pub fn ords(&self, col: &ColumnInfo, doc: u32, f: &mut dyn FnMut(u32)) {
        let ords = &self.map[col.ords.0..col.ords.1];
        if col.multi {
            let starts = &self.map[col.starts.0..col.starts.1];
            let (s, e) = (u32_at(starts, doc as usize), u32_at(starts, doc as usize + 1));
            for i in s..e {
                f(unpack(ords, col.bits, i as usize));
            }
        } else {
            let o = unpack(ords, col.bits, doc as usize);
            if o > 0 {
                f(o - 1);
            }
        }
    }

    /// The single-valued column's ordinal + 1 for a document (0: none); `None` if multi-valued.
    #[inline]
    pub fn single_ord(&self, col: &ColumnInfo) -> Option<impl Fn(u32) -> u32 + '_> {
        if col.multi {
            return None;
        }
        let ords = &self.map[col.ords.0..col.ords.1];
        let bits = col.bits;
        Some(move |doc: u32| unpack(ords, bits, doc as usize))
    }

    pub fn nvalues(&self, col: &ColumnInfo) -> u32 {
        col.nvalues
    }

    pub fn value(&self, col: &ColumnInfo, ord: u32) -> &str {
        let offs = &self.map[col.offsets.0..col.offsets.1];
        let bytes = &self.map[col.bytes.0..col.bytes.1];
        let (s, e) = (u32_at(offs, ord as usize) as usize, u32_at(offs, ord as usize + 1) as usize);
        std::str::from_utf8(bytes.get(s..e).unwrap_or_default()).unwrap_or("")
    }

    /// The sorted ordinal of a value in a column, if present.
    pub fn ord_of(&self, col: &ColumnInfo, value: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0u32, col.nvalues);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.value(col, mid).cmp(value) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}
