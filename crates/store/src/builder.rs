//! An in-memory segment being filled with events, written to one immutable file when full or
//! at a commit. Every term an event has (see [`crate::terms`]) goes into a hash table of term
//! ids whose bytes live in one arena; postings are delta varints, so a term costs ~20 bytes
//! plus its text and a posting ~1 byte. Facetable fields become dictionary-encoded columns,
//! records go into zstd blocks.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::Path;

use hashbrown::HashTable;
use roaring::RoaringBitmap;
use rustc_hash::FxBuildHasher;
use trailwatch_cloudtrail::Event;
use trailwatch_query::{FieldValues, KnownField};

use crate::codec::{bitpack, bits_for, put_u32, put_u64, put_varint};
use crate::terms::{columns, for_each_term};
use crate::{Error, Result};

/// Bytes of records (and titles) compressed together; a read decompresses one block (~1 ms).
/// Large blocks compress CloudTrail's repetitive JSON far better: 0.66x the gzipped input at
/// 1 MiB against 0.90x at 128 KiB.
pub const BLOCK_BYTES: usize = 1024 * 1024;
/// Posting lists at least this long are stored as roaring bitmaps, shorter ones as varints.
pub const ROARING_MIN: u32 = 32;
/// Terms per dictionary block (the first is stored whole, the others front-coded).
pub const DICT_BLOCK: usize = 16;
pub const ZSTD_LEVEL: i32 = 3;

pub const MAGIC: &[u8; 8] = b"TWSEG001";
/// Sections of a segment file, in order.
pub const SECTIONS: usize = 10;
pub const S_META: usize = 0;
pub const S_TIME: usize = 1;
pub const S_RECEIVED: usize = 2;
pub const S_ID_HASH: usize = 3;
pub const S_COLUMNS: usize = 4;
pub const S_DICT_INDEX: usize = 5;
pub const S_DICT: usize = 6;
pub const S_POSTINGS: usize = 7;
pub const S_RECORD_INDEX: usize = 8;
pub const S_RECORDS: usize = 9;

#[derive(Default)]
struct Column {
    /// Value → ordinal in order of first appearance.
    dict: HashMap<String, u32, FxBuildHasher>,
    values: Vec<String>,
    /// Per document, where its values start in `ords` (one more entry than documents).
    starts: Vec<u32>,
    ords: Vec<u32>,
    multi: bool,
}

pub struct Builder {
    docs: u32,
    hasher: foldhash::fast::FixedState,
    table: HashTable<u32>,
    arena: Vec<u8>,
    /// Term `i` is `arena[ends[i - 1]..ends[i]]` (`ends[-1]` = 0).
    ends: Vec<u32>,
    first: Vec<u32>,
    last: Vec<u32>,
    df: Vec<u32>,
    /// Index into `lists` of the term's later postings (0: none yet).
    more: Vec<u32>,
    lists: Vec<Vec<u8>>,
    time: Vec<i64>,
    received: Vec<i64>,
    id_hash: Vec<u64>,
    columns: Vec<(KnownField, Column)>,
    block: Vec<u8>,
    block_lens: Vec<(u32, u32)>,
    block_first: u32,
    records: Vec<u8>,
    record_index: Vec<(u32, u64)>,
    compressor: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
    min_time: i64,
    max_time: i64,
}

impl Builder {
    pub fn new() -> Result<Builder> {
        let compressor =
            zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| Error::Directory(format!("zstd: {e}")))?;
        Ok(Builder {
            docs: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x7472_6169_6c77_6174),
            table: HashTable::new(),
            arena: Vec::new(),
            ends: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            df: Vec::new(),
            more: Vec::new(),
            lists: vec![Vec::new()],
            time: Vec::new(),
            received: Vec::new(),
            id_hash: Vec::new(),
            columns: columns().map(|f| (f, Column { starts: vec![0], ..Column::default() })).collect(),
            block: Vec::with_capacity(BLOCK_BYTES + 64 * 1024),
            block_lens: Vec::new(),
            block_first: 0,
            records: Vec::new(),
            record_index: Vec::new(),
            compressor,
            scratch: Vec::with_capacity(256),
            min_time: i64::MAX,
            max_time: i64::MIN,
        })
    }

    pub fn docs(&self) -> u32 {
        self.docs
    }

    /// Roughly the bytes this builder holds.
    pub fn memory(&self) -> usize {
        self.arena.capacity()
            + self.ends.capacity() * 20
            + self.table.capacity() * 5
            + self.lists.iter().map(|l| l.capacity() + 24).sum::<usize>()
            + self.time.capacity() * 24
            + self.records.capacity()
            + self.block.capacity()
            + self.columns.iter().map(|(_, c)| c.starts.capacity() * 4 + c.ords.capacity() * 4).sum::<usize>()
    }

    pub fn add(&mut self, event: &Event, record: &[u8], id_hash: u64) -> Result<()> {
        let doc = self.docs;
        let mut buf = std::mem::take(&mut self.scratch);
        for_each_term(event, &mut buf, &mut |t| self.post(t, doc));
        self.scratch = buf;
        self.time.push(event.time);
        self.received.push(event.received);
        self.id_hash.push(id_hash);
        self.min_time = self.min_time.min(event.time);
        self.max_time = self.max_time.max(event.time);
        for (field, col) in &mut self.columns {
            if let FieldValues::Keywords(values) = field.values(event) {
                col.multi |= values.len() > 1;
                for v in values {
                    let ord = match col.dict.get(v.as_ref()) {
                        Some(o) => *o,
                        None => {
                            let o = col.values.len() as u32;
                            col.values.push(v.to_string());
                            col.dict.insert(v.into_owned(), o);
                            o
                        }
                    };
                    col.ords.push(ord);
                }
            }
            col.starts.push(col.ords.len() as u32);
        }
        // The record, then the title: phrase checks read both back.
        self.block_lens.push((record.len() as u32, event.title.len() as u32));
        self.block.extend_from_slice(record);
        self.block.extend_from_slice(event.title.as_bytes());
        self.docs += 1;
        if self.block.len() >= BLOCK_BYTES {
            self.seal_block()?;
        }
        Ok(())
    }

    fn post(&mut self, term: &[u8], doc: u32) {
        let hash = self.hasher.hash_one(term);
        let (arena, ends) = (&self.arena, &self.ends);
        let bytes = |id: u32| {
            let id = id as usize;
            let start = if id == 0 { 0 } else { ends[id - 1] as usize };
            &arena[start..ends[id] as usize]
        };
        if let Some(&id) = self.table.find(hash, |&id| bytes(id) == term) {
            let id = id as usize;
            if self.last[id] == doc {
                return;
            }
            let delta = doc - self.last[id];
            if self.more[id] == 0 {
                self.more[id] = self.lists.len() as u32;
                self.lists.push(Vec::with_capacity(4));
            }
            put_varint(&mut self.lists[self.more[id] as usize], u64::from(delta));
            self.last[id] = doc;
            self.df[id] += 1;
            return;
        }
        let id = self.ends.len() as u32;
        self.arena.extend_from_slice(term);
        self.ends.push(self.arena.len() as u32);
        self.first.push(doc);
        self.last.push(doc);
        self.df.push(1);
        self.more.push(0);
        let (arena, ends, hasher) = (&self.arena, &self.ends, &self.hasher);
        self.table.insert_unique(hash, id, |&id| {
            let id = id as usize;
            let start = if id == 0 { 0 } else { ends[id - 1] as usize };
            hasher.hash_one(&arena[start..ends[id] as usize])
        });
    }

    fn seal_block(&mut self) -> Result<()> {
        if self.block_lens.is_empty() {
            return Ok(());
        }
        let mut raw = Vec::with_capacity(self.block.len() + self.block_lens.len() * 8 + 4);
        put_u32(&mut raw, self.block_lens.len() as u32);
        for (r, t) in &self.block_lens {
            put_u32(&mut raw, *r);
            put_u32(&mut raw, *t);
        }
        raw.extend_from_slice(&self.block);
        let packed = self.compressor.compress(&raw).map_err(|e| Error::Directory(format!("zstd: {e}")))?;
        self.record_index.push((self.block_first, self.records.len() as u64));
        put_u32(&mut self.records, raw.len() as u32);
        self.records.extend_from_slice(&packed);
        self.block.clear();
        self.block_lens.clear();
        self.block_first = self.docs;
        Ok(())
    }

    /// Writes the segment to `path` (synced) and returns how many events it holds.
    pub fn write(mut self, path: &Path) -> Result<u32> {
        self.seal_block()?;
        let io = |e: std::io::Error| Error::Directory(format!("cannot write {}: {e}", path.display()));
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io)?;
        let mut pos = MAGIC.len() as u64;
        let mut table = [(0u64, 0u64); SECTIONS];
        let mut emit = |section: usize, bytes: &[u8], out: &mut std::io::BufWriter<std::fs::File>| {
            table[section] = (pos, bytes.len() as u64);
            pos += bytes.len() as u64;
            out.write_all(bytes)
        };

        let mut meta = Vec::new();
        put_u32(&mut meta, self.docs);
        put_u64(&mut meta, self.min_time as u64);
        put_u64(&mut meta, self.max_time as u64);
        emit(S_META, &meta, &mut out).map_err(io)?;
        let bytes: Vec<u8> = self.time.iter().flat_map(|t| t.to_le_bytes()).collect();
        emit(S_TIME, &bytes, &mut out).map_err(io)?;
        let bytes: Vec<u8> = self.received.iter().flat_map(|t| t.to_le_bytes()).collect();
        emit(S_RECEIVED, &bytes, &mut out).map_err(io)?;
        let bytes: Vec<u8> = self.id_hash.iter().flat_map(|t| t.to_le_bytes()).collect();
        emit(S_ID_HASH, &bytes, &mut out).map_err(io)?;
        let columns = write_columns(std::mem::take(&mut self.columns), self.docs);
        emit(S_COLUMNS, &columns, &mut out).map_err(io)?;
        drop(columns);

        let (index, dict, postings) = self.write_terms();
        emit(S_DICT_INDEX, &index, &mut out).map_err(io)?;
        emit(S_DICT, &dict, &mut out).map_err(io)?;
        emit(S_POSTINGS, &postings, &mut out).map_err(io)?;
        drop((index, dict, postings));

        let mut index = Vec::with_capacity(self.record_index.len() * 12 + 8);
        for (first, off) in &self.record_index {
            put_u32(&mut index, *first);
            put_u64(&mut index, *off);
        }
        put_u64(&mut index, self.records.len() as u64);
        emit(S_RECORD_INDEX, &index, &mut out).map_err(io)?;
        emit(S_RECORDS, &self.records, &mut out).map_err(io)?;

        let mut footer = Vec::with_capacity(SECTIONS * 16 + 16);
        for (off, len) in table {
            put_u64(&mut footer, off);
            put_u64(&mut footer, len);
        }
        footer.extend_from_slice(MAGIC);
        out.write_all(&footer).map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(self.docs)
    }

    /// The sorted dictionary (block offsets, blocks) and the posting lists.
    fn write_terms(&mut self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (arena, ends) = (&self.arena, &self.ends);
        let bytes = |id: u32| {
            let id = id as usize;
            let start = if id == 0 { 0 } else { ends[id - 1] as usize };
            &arena[start..ends[id] as usize]
        };
        let mut order: Vec<u32> = (0..self.ends.len() as u32).collect();
        order.sort_unstable_by(|a, b| bytes(*a).cmp(bytes(*b)));
        let mut index = Vec::with_capacity(order.len().div_ceil(DICT_BLOCK) * 4);
        let mut dict = Vec::with_capacity(self.arena.len() / 2 + order.len() * 4);
        let mut postings = Vec::new();
        let mut prev: &[u8] = &[];
        let mut docs = Vec::new();
        for (i, &id) in order.iter().enumerate() {
            let term = bytes(id);
            let shared = if i % DICT_BLOCK == 0 {
                put_u32(&mut index, dict.len() as u32);
                0
            } else {
                prev.iter().zip(term).take_while(|(a, b)| a == b).count()
            };
            put_varint(&mut dict, shared as u64);
            put_varint(&mut dict, (term.len() - shared) as u64);
            dict.extend_from_slice(&term[shared..]);
            let idx = id as usize;
            let df = self.df[idx];
            put_varint(&mut dict, u64::from(df));
            if df == 1 {
                put_varint(&mut dict, u64::from(self.first[idx]));
            } else {
                put_varint(&mut dict, postings.len() as u64);
                let list = &self.lists[self.more[idx] as usize];
                if df < ROARING_MIN {
                    put_varint(&mut postings, u64::from(self.first[idx]));
                    postings.extend_from_slice(list);
                } else {
                    docs.clear();
                    docs.push(self.first[idx]);
                    let mut c = crate::codec::Cursor::new(list);
                    let mut d = self.first[idx];
                    while !c.is_done() {
                        d += c.varint().expect("builder wrote these varints") as u32;
                        docs.push(d);
                    }
                    let bm = RoaringBitmap::from_sorted_iter(docs.iter().copied()).expect("sorted");
                    bm.serialize_into(&mut postings).expect("writing to memory");
                }
            }
            prev = term;
        }
        (index, dict, postings)
    }
}

/// Columns: a directory of offsets, then per column its sorted dictionary and ordinals.
fn write_columns(columns: Vec<(KnownField, Column)>, docs: u32) -> Vec<u8> {
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for (_, col) in columns {
        offsets.push(body.len() as u64);
        // Sorted dictionary; `remap[insertion ordinal]` = sorted ordinal.
        let mut order: Vec<u32> = (0..col.values.len() as u32).collect();
        order.sort_unstable_by(|a, b| col.values[*a as usize].cmp(&col.values[*b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (sorted, &ins) in order.iter().enumerate() {
            remap[ins as usize] = sorted as u32;
        }
        body.push(col.multi as u8);
        put_u32(&mut body, order.len() as u32);
        let mut at = 0u32;
        put_u32(&mut body, 0);
        for &ins in &order {
            at += col.values[ins as usize].len() as u32;
            put_u32(&mut body, at);
        }
        for &ins in &order {
            body.extend_from_slice(col.values[ins as usize].as_bytes());
        }
        if col.multi {
            let bits = bits_for(order.len().saturating_sub(1) as u64);
            body.push(bits as u8);
            for s in &col.starts {
                put_u32(&mut body, *s);
            }
            let ords: Vec<u32> = col.ords.iter().map(|o| remap[*o as usize]).collect();
            bitpack(&ords, bits, &mut body);
        } else {
            // One value or none per document: ordinal + 1, 0 for none.
            let bits = bits_for(order.len() as u64);
            body.push(bits as u8);
            let mut ords = vec![0u32; docs as usize];
            for (d, slot) in ords.iter_mut().enumerate() {
                let (s, e) = (col.starts[d], col.starts[d + 1]);
                if e > s {
                    *slot = remap[col.ords[s as usize] as usize] + 1;
                }
            }
            bitpack(&ords, bits, &mut body);
        }
    }
    let mut out = Vec::with_capacity(offsets.len() * 8 + body.len());
    for o in offsets {
        put_u64(&mut out, o);
    }
    out.extend_from_slice(&body);
    out
}
