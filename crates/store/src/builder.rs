//! An in-memory segment being filled with events, written to one immutable file when full or
//! at a commit. Every term an event has (see [`crate::terms`]) goes into a table of terms
//! whose bytes live in one arena; later postings are delta varints in linked blocks of one
//! pool, so a term costs ~44 bytes plus its text and a posting ~1 byte. Ingest is bound by
//! the cache misses of these lookups (millions of terms, most seen once), so an event's terms
//! are hashed first and each lookup's lines are prefetched a few terms ahead. Facetable fields
//! become dictionary-encoded columns, records go into zstd blocks.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;

use rustc_hash::FxBuildHasher;
use trailwatch_cloudtrail::Event;
use trailwatch_query::{FieldValues, KnownField};

use crate::segfile::{write_columns, write_doc_columns, BlockWriter, ColumnData, DictWriter, SegmentFile};
use crate::terms::{columns, for_each_term, for_each_text_term, TermScratch};
use crate::Result;

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
    table: TermTable,
    arena: Vec<u8>,
    pool: Pool,
    /// The terms of the document being added (hash, start and length in `doc_bytes`): they
    /// are all known before the first is looked up, so the table's, the entries' and the
    /// postings' cache lines for the next terms are fetched while this one is worked on.
    doc_terms: Vec<(u64, u32, u32, u32)>,
    doc_bytes: Vec<u8>,
    time: Vec<i64>,
    received: Vec<i64>,
    id_hash: Vec<u64>,
    columns: Vec<(KnownField, Column)>,
    shapes: Shapes,
    /// Entries of raw string terms whose words and pairs are made at write time, with where
    /// the value starts in the term (see [`for_each_term`]'s `derive`).
    derivable: Vec<(u32, u32)>,
    blocks: BlockWriter,
    scratch: TermScratch,
}

/// Presence terms (`e`) by shape: the set of them an event has (which known fields have
/// values, which raw paths lead to one) is shared by many events, so each event costs one
/// lookup of its set here instead of ~80 term lookups in the big table. The postings of each
/// presence term are made when the segment is written, from the shape of every document.
#[derive(Default)]
struct Shapes {
    /// Shape key (its terms, each a varint length then the bytes) → shape number.
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
    /// The key bytes of all shapes, for the memory estimate.
    key_bytes: usize,
    /// Per document, its shape.
    of_doc: Vec<u32>,
    /// The key of the document being added.
    key: Vec<u8>,
}

impl Shapes {
    fn memory(&self) -> usize {
        self.key_bytes + self.ids.capacity() * 32 + self.of_doc.capacity() * 4
    }

    /// Adds a term to the key of the document being added.
    fn push_term(&mut self, term: &[u8]) {
        let mut varint = [0u8; 10];
        let n = put_varint_into(&mut varint, term.len() as u64);
        self.key.extend_from_slice(&varint[..n]);
        self.key.extend_from_slice(term);
    }

    /// Ends the document being added: its key becomes its shape.
    fn end_doc(&mut self) {
        let id = match self.ids.get(self.key.as_slice()) {
            Some(id) => *id,
            None => {
                let id = self.ids.len() as u32;
                self.key_bytes += self.key.len();
                self.ids.insert(self.key.as_slice().into(), id);
                id
            }
        };
        self.of_doc.push(id);
        self.key.clear();
    }

    /// Every presence term with its documents (ascending), sorted by term.
    fn postings(&self) -> Result<Vec<(&[u8], Vec<u32>)>> {
        let mut term_ids: HashMap<&[u8], u32, FxBuildHasher> = HashMap::default();
        let mut terms: Vec<&[u8]> = Vec::new();
        let mut of_shape: Vec<Vec<u32>> = vec![Vec::new(); self.ids.len()];
        for (key, &shape) in &self.ids {
            let mut c = crate::codec::Cursor::new(key);
            while !c.is_done() {
                let len = c.varint()? as usize;
                let term = c.take(len)?;
                let next = terms.len() as u32;
                let id = *term_ids.entry(term).or_insert(next);
                if id == next {
                    terms.push(term);
                }
                of_shape[shape as usize].push(id);
            }
        }
        let mut docs: Vec<Vec<u32>> = vec![Vec::new(); terms.len()];
        for (doc, &shape) in self.of_doc.iter().enumerate() {
            for &t in &of_shape[shape as usize] {
                let list = &mut docs[t as usize];
                // A term twice in one key (never made so, but cheap to be sure of) is one posting.
                if list.last() != Some(&(doc as u32)) {
                    list.push(doc as u32);
                }
            }
        }
        let mut out: Vec<(&[u8], Vec<u32>)> = terms.into_iter().zip(docs).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Ok(out)
    }
}

/// One term: where its bytes are in the arena and what the next posting needs.
#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    len: u32,
    /// The first and the last document that has the term.
    first: u32,
    last: u32,
    /// The first and the last block of its later postings in the pool (0: none yet).
    head: u32,
    tail: u32,
    /// Documents after the first (sizes the next block).
    later: u32,
}

/// Term bytes → entry: open addressing with linear probing over 8-byte slots (the hash's high
/// 32 bits and the entry's index + 1; 0 is empty), eight to a cache line, at most 3/4 full.
/// Entries are in a `Vec` in order of first appearance, so the dictionary is written from
/// it and a growing table re-hashes the arena in order.
struct TermTable {
    slots: Vec<u64>,
    entries: Vec<Entry>,
}

impl TermTable {
    fn new() -> TermTable {
        TermTable { slots: vec![0; 1 << 12], entries: Vec::new() }
    }

    fn memory(&self) -> usize {
        self.slots.capacity() * 8 + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    fn tag(hash: u64) -> u64 {
        hash >> 32 << 32
    }

    /// The entry `term` has, if any.
    fn find(&self, arena: &[u8], hash: u64, term: &[u8]) -> Option<usize> {
        self.probe(hash, |e| {
            e.len as usize == term.len() && &arena[e.start as usize..(e.start + e.len) as usize] == term
        })
    }

    /// The first entry along `hash`'s probe sequence whose slot has its tag and that `accept`s.
    fn probe(&self, hash: u64, accept: impl Fn(&Entry) -> bool) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 << 32 == Self::tag(hash) {
                let id = (slot as u32 - 1) as usize;
                if accept(&self.entries[id]) {
                    return Some(id);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds an entry for a term not in the table.
    fn insert(&mut self, arena: &[u8], hash: u64, entry: Entry) {
        if (self.entries.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow(arena);
        }
        self.entries.push(entry);
        let id = self.entries.len() as u64;
        self.place(hash, id);
    }

    fn place(&mut self, hash: u64, id: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = Self::tag(hash) | id;
    }

    fn grow(&mut self, arena: &[u8]) {
        self.slots = vec![0; self.slots.len() * 2];
        let hasher = hasher();
        for id in 0..self.entries.len() {
            let e = self.entries[id];
            let hash = hasher.hash_one(&arena[e.start as usize..(e.start + e.len) as usize]);
            self.place(hash, id as u64 + 1);
        }
    }

    /// Asks the CPU for the cache line a lookup of `hash` starts at.
    fn prefetch_slot(&self, hash: u64) {
        prefetch(&self.slots[self.home(hash)]);
    }

    /// Asks for the entry the first slot with `hash`'s tag names (if that slot is in cache by
    /// now, else this costs the wait it was meant to hide, once).
    fn prefetch_entry(&self, hash: u64) -> Option<&Entry> {
        let e = &self.entries[self.probe(hash, |_| true)?];
        prefetch(e);
        Some(e)
    }
}

/// The hash of term bytes, the same in every builder.
fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7472_6169_6c77_6174)
}

/// A hint that `value`'s cache line is about to be read; no effect on what the program does.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is only a hint to the cache; it reads nothing and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Later postings (delta varints) of every term, in linked blocks carved out of 1 MiB chunks:
/// appending touches only the term's last block, and nothing is reallocated or copied as
/// lists grow. A block is `next: u32, used: u16, cap: u16`, then `cap` bytes; a varint never
/// spans two blocks. A new block is about as large as the term's postings so far (16 bytes
/// to 4 KiB), so a list's blocks are at most about twice its bytes.
struct Pool {
    chunks: Vec<Box<[u8]>>,
    /// Bytes used in the last chunk.
    used: usize,
}

const CHUNK_BITS: u32 = 20;
const CHUNK: usize = 1 << CHUNK_BITS;
const BLOCK_HEADER: usize = 8;
const MAX_BLOCK: usize = 4096;

impl Pool {
    fn new() -> Pool {
        // Offset 0 means "no block": the first chunk starts with an unused header.
        Pool { chunks: vec![vec![0u8; CHUNK].into_boxed_slice()], used: BLOCK_HEADER }
    }

    fn memory(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// A new empty block of `size` bytes in all; its offset.
    fn alloc(&mut self, size: usize) -> u32 {
        if self.used + size > CHUNK {
            self.chunks.push(vec![0u8; CHUNK].into_boxed_slice());
            self.used = 0;
        }
        let chunk = self.chunks.len() - 1;
        let at = self.used;
        self.used += size;
        let block = &mut self.chunks[chunk][at..at + BLOCK_HEADER];
        block.fill(0);
        block[6..8].copy_from_slice(&((size - BLOCK_HEADER) as u16).to_le_bytes());
        ((chunk << CHUNK_BITS) | at) as u32
    }

    fn block(&self, offset: u32) -> &[u8] {
        let (chunk, at) = ((offset >> CHUNK_BITS) as usize, offset as usize & (CHUNK - 1));
        &self.chunks[chunk][at..]
    }

    fn block_mut(&mut self, offset: u32) -> &mut [u8] {
        let (chunk, at) = ((offset >> CHUNK_BITS) as usize, offset as usize & (CHUNK - 1));
        &mut self.chunks[chunk][at..]
    }

    /// Appends `bytes` (one varint, at most 10 bytes) to the block at `tail`, or to a new
    /// block linked after it when it is full; the block now holding the end.
    fn append(&mut self, tail: u32, bytes: &[u8], later: u32) -> (u32, Option<u32>) {
        if tail != 0 {
            let block = self.block_mut(tail);
            let used = u16::from_le_bytes([block[4], block[5]]) as usize;
            let cap = u16::from_le_bytes([block[6], block[7]]) as usize;
            if used + bytes.len() <= cap {
                block[BLOCK_HEADER + used..BLOCK_HEADER + used + bytes.len()].copy_from_slice(bytes);
                block[4..6].copy_from_slice(&((used + bytes.len()) as u16).to_le_bytes());
                return (tail, None);
            }
        }
        let size = (later as usize + BLOCK_HEADER).next_power_of_two().clamp(16, MAX_BLOCK);
        let new = self.alloc(size);
        let block = self.block_mut(new);
        block[BLOCK_HEADER..BLOCK_HEADER + bytes.len()].copy_from_slice(bytes);
        block[4..6].copy_from_slice(&(bytes.len() as u16).to_le_bytes());
        if tail != 0 {
            self.block_mut(tail)[0..4].copy_from_slice(&new.to_le_bytes());
            (new, None)
        } else {
            (new, Some(new))
        }
    }

    /// Calls `f` with each block's used bytes, from `head` on.
    fn for_each_block(&self, mut offset: u32, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        while offset != 0 {
            let block = self.block(offset);
            let used = u16::from_le_bytes([block[4], block[5]]) as usize;
            f(&block[BLOCK_HEADER..BLOCK_HEADER + used])?;
            offset = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        }
        Ok(())
    }
}

impl Builder {
    pub fn new() -> Result<Builder> {
        Ok(Builder {
            docs: 0,
            hasher: hasher(),
            table: TermTable::new(),
            arena: Vec::new(),
            pool: Pool::new(),
            doc_terms: Vec::with_capacity(512),
            doc_bytes: Vec::with_capacity(16 * 1024),
            time: Vec::new(),
            received: Vec::new(),
            id_hash: Vec::new(),
            columns: columns().map(|f| (f, Column { starts: vec![0], ..Column::default() })).collect(),
            shapes: Shapes::default(),
            derivable: Vec::new(),
            blocks: BlockWriter::new()?,
            scratch: TermScratch::default(),
        })
    }

    pub fn docs(&self) -> u32 {
        self.docs
    }

    /// Roughly the bytes this builder holds.
    pub fn memory(&self) -> usize {
        self.arena.capacity()
            + self.table.memory()
            + self.pool.memory()
            + self.time.capacity() * 24
            + self.blocks.memory()
            + self.shapes.memory()
            + self.derivable.capacity() * 8
            + self
                .columns
                .iter()
                .map(|(_, c)| {
                    c.starts.capacity() * 4
                        + c.ords.capacity() * 4
                        + c.values.iter().map(|v| 2 * v.len() + 64).sum::<usize>()
                })
                .sum::<usize>()
    }

    pub fn add(&mut self, event: &Event, record: &[u8], id_hash: u64) -> Result<()> {
        let doc = self.docs;
        let mut buf = std::mem::take(&mut self.scratch);
        self.doc_terms.clear();
        self.doc_bytes.clear();
        let shapes = &mut self.shapes;
        for_each_term(
            event,
            &mut buf,
            true,
            &mut |t, at| {
                let hash = self.hasher.hash_one(t);
                self.doc_terms.push((hash, self.doc_bytes.len() as u32, t.len() as u32, at));
                self.doc_bytes.extend_from_slice(t);
            },
            &mut |t| shapes.push_term(t),
        );
        shapes.end_doc();
        let terms = std::mem::take(&mut self.doc_terms);
        let bytes = std::mem::take(&mut self.doc_bytes);
        // Three stages ahead of the term being posted: its slot's line is asked for, then the
        // entry that slot names, then the entry's bytes and last postings block.
        const AHEAD: usize = 4;
        for (i, &(hash, start, len, at)) in terms.iter().enumerate() {
            if let Some(&(h, ..)) = terms.get(i + 3 * AHEAD) {
                self.table.prefetch_slot(h);
            }
            if let Some(&(h, ..)) = terms.get(i + 2 * AHEAD) {
                self.table.prefetch_entry(h);
            }
            if let Some(&(h, ..)) = terms.get(i + AHEAD) {
                if let Some(e) = self.table.prefetch_entry(h) {
                    if let Some(b) = self.arena.get(e.start as usize) {
                        prefetch(b);
                    }
                    if e.tail != 0 {
                        prefetch(&self.pool.block(e.tail)[0]);
                    }
                }
            }
            self.post(&bytes[start as usize..(start + len) as usize], hash, doc, at);
        }
        self.doc_terms = terms;
        self.doc_bytes = bytes;
        self.scratch = buf;
        self.time.push(event.time);
        self.received.push(event.received);
        self.id_hash.push(id_hash);
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
        self.blocks.add(record, event.title.as_bytes())?;
        self.docs += 1;
        Ok(())
    }

    /// Records that `doc` has `term`. A term that comes again in the same document (a word of
    /// many strings) finds its entry in cache and stops at `last == doc`. `at` > 0: the term
    /// is a raw string's whose words are derived at write time from byte `at` on.
    fn post(&mut self, term: &[u8], hash: u64, doc: u32, at: u32) {
        if let Some(id) = self.table.find(&self.arena, hash, term) {
            let e = &mut self.table.entries[id];
            if e.last == doc {
                return;
            }
            let mut varint = [0u8; 10];
            let n = put_varint_into(&mut varint, u64::from(doc - e.last));
            e.last = doc;
            e.later += 1;
            let (tail, head) = self.pool.append(e.tail, &varint[..n], e.later);
            e.tail = tail;
            if let Some(h) = head {
                e.head = h;
            }
            return;
        }
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(term);
        let entry =
            Entry { start, len: term.len() as u32, first: doc, last: doc, head: 0, tail: 0, later: 0 };
        self.table.insert(&self.arena, hash, entry);
        if at > 0 {
            self.derivable.push((self.table.entries.len() as u32 - 1, at));
        }
    }

    /// Appends the documents of `e` (ascending) to `out`.
    fn entry_docs(pool: &Pool, e: &Entry, out: &mut Vec<u32>) -> Result<()> {
        let mut d = e.first;
        out.push(d);
        pool.for_each_block(e.head, &mut |block| {
            let mut c = crate::codec::Cursor::new(block);
            while !c.is_done() {
                d += c.varint()? as u32;
                out.push(d);
            }
            Ok(())
        })
    }

    /// Writes the segment to `path` (synced) and returns how many events it holds.
    pub fn write(mut self, path: &Path) -> Result<u32> {
        let mut file = SegmentFile::create(path)?;
        write_doc_columns(&mut file, &self.time, &self.received, &self.id_hash)?;
        let columns = std::mem::take(&mut self.columns);
        let data: Vec<ColumnData<'_>> = columns.iter().map(|(_, c)| c.sorted()).collect();
        file.section(crate::segfile::S_COLUMNS, &write_columns(&data, self.docs))?;
        drop(data);
        drop(columns);
        self.write_terms(&mut file)?;
        // The terms are written: their memory goes back before the records are.
        self.arena = Vec::new();
        self.pool.chunks = Vec::new();
        let docs = self.docs;
        self.blocks.write(&mut file)?;
        file.finish()?;
        Ok(docs)
    }

    /// The sorted dictionary and the posting lists: the table's terms, the presence terms
    /// made from the shapes and the words derived from raw strings, merged in term order.
    fn write_terms(&mut self, file: &mut SegmentFile) -> Result<()> {
        let arena = &self.arena;
        let bytes = |e: &Entry| &arena[e.start as usize..(e.start + e.len) as usize];
        let entries = std::mem::take(&mut self.table.entries);
        self.table.slots = Vec::new();
        // Sorted by the first 8 bytes, read once into the sort key (16 bytes a term while
        // sorting); the bytes themselves are compared only between terms that share those.
        let mut order: Vec<(u64, u32)> =
            entries.iter().enumerate().map(|(id, e)| (prefix_key(bytes(e)), id as u32)).collect();
        order.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb).then_with(|| bytes(&entries[*a as usize]).cmp(bytes(&entries[*b as usize])))
        });
        let shapes = std::mem::take(&mut self.shapes);
        let presence = shapes.postings()?;
        let mut presence = presence.iter().peekable();
        let derived = Derived::new(&std::mem::take(&mut self.derivable), &entries, arena, &mut self.scratch);
        let mut derived_at = 0;
        let mut dict = DictWriter::new(file)?;
        let mut docs = Vec::new();
        let pool = &self.pool;
        let n_docs = self.docs;
        // The documents of derived word `w`, and of table entry `also` (the same term).
        let derived_docs = |w: usize, also: Option<&Entry>, docs: &mut Vec<u32>| -> Result<()> {
            docs.clear();
            let sources = derived.sources(w);
            for &id in sources {
                Self::entry_docs(pool, &entries[id as usize], docs)?;
            }
            if let Some(e) = also {
                Self::entry_docs(pool, e, docs)?;
            }
            if sources.len() + usize::from(also.is_some()) > 1 {
                union_in_place(docs, n_docs);
            }
            Ok(())
        };
        for &(_, id) in &order {
            let e = &entries[id as usize];
            let term = bytes(e);
            while let Some((t, list)) = presence.next_if(|(t, _)| *t < term) {
                dict.add(file, t, list)?;
            }
            while derived_at < derived.len() && derived.term(derived_at) < term {
                derived_docs(derived_at, None, &mut docs)?;
                dict.add(file, derived.term(derived_at), &docs)?;
                derived_at += 1;
            }
            if derived_at < derived.len() && derived.term(derived_at) == term {
                derived_docs(derived_at, Some(e), &mut docs)?;
                derived_at += 1;
            } else {
                docs.clear();
                Self::entry_docs(pool, e, &mut docs)?;
            }
            dict.add(file, term, &docs)?;
        }
        // Presence terms (`e`) sort before words (`p`, `w`), so the rest never interleave.
        for (t, list) in presence {
            dict.add(file, t, list)?;
        }
        while derived_at < derived.len() {
            derived_docs(derived_at, None, &mut docs)?;
            dict.add(file, derived.term(derived_at), &docs)?;
            derived_at += 1;
        }
        dict.finish(file)
    }
}

/// The first 8 bytes of a term as a big-endian number: orders like the bytes do.
fn prefix_key(b: &[u8]) -> u64 {
    let mut key = [0u8; 8];
    let n = b.len().min(8);
    key[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(key)
}

/// Sorts `docs` and removes repeats; a bit set when they are many for the segment's size.
fn union_in_place(docs: &mut Vec<u32>, n_docs: u32) {
    if docs.len() * 8 > n_docs as usize {
        let mut bits = vec![0u64; (n_docs as usize).div_ceil(64).max(1)];
        for &d in docs.iter() {
            bits[d as usize >> 6] |= 1 << (d & 63);
        }
        docs.clear();
        for (i, &word) in bits.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                docs.push((i as u32) << 6 | w.trailing_zeros());
                w &= w - 1;
            }
        }
    } else {
        docs.sort_unstable();
        docs.dedup();
    }
}

/// The words and pairs of the derivable raw strings: each distinct term once, sorted, with
/// the raw string entries it comes from.
struct Derived {
    /// Term bytes, one after another; term `i` is `spans[i]` (start, length).
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// Sorted order of the terms.
    order: Vec<u32>,
    /// Source entries by term: term `t`'s are `sources[first[t]..fill[t]]`.
    sources: Vec<u32>,
    first: Vec<u32>,
    fill: Vec<u32>,
}

impl Derived {
    fn new(derivable: &[(u32, u32)], entries: &[Entry], arena: &[u8], scratch: &mut TermScratch) -> Derived {
        // Distinct terms in a table of their own, as the builder's (no allocation per term).
        let mut table = TermTable::new();
        let mut bytes = Vec::new();
        let hasher = hasher();
        // (term, source entry) in the order made: entries ascending, a term's sources too.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for &(entry, at) in derivable {
            let e = &entries[entry as usize];
            let value = &arena[(e.start + at) as usize..(e.start + e.len) as usize];
            // Derivable values are ASCII (see `terms::for_each_term`).
            let Ok(value) = std::str::from_utf8(value) else { continue };
            for_each_text_term(value, scratch, &mut |t| {
                let hash = hasher.hash_one(t);
                let id = match table.find(&bytes, hash, t) {
                    Some(id) => id as u32,
                    None => {
                        let start = bytes.len() as u32;
                        bytes.extend_from_slice(t);
                        let new = Entry {
                            start,
                            len: t.len() as u32,
                            first: 0,
                            last: 0,
                            head: 0,
                            tail: 0,
                            later: 0,
                        };
                        table.insert(&bytes, hash, new);
                        table.entries.len() as u32 - 1
                    }
                };
                pairs.push((id, entry));
            });
        }
        let terms = std::mem::take(&mut table.entries);
        drop(table);
        // Grouped by term with a counting sort, which keeps each term's sources ascending;
        // the same word twice in one string is one source.
        let n = terms.len();
        let mut first = vec![0u32; n + 1];
        for &(t, _) in &pairs {
            first[t as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill: Vec<u32> = first[..n].to_vec();
        let mut sources = vec![u32::MAX; pairs.len()];
        for &(t, e) in &pairs {
            let at = fill[t as usize] as usize;
            if at > first[t as usize] as usize && sources[at - 1] == e {
                continue;
            }
            sources[at] = e;
            fill[t as usize] += 1;
        }
        drop(pairs);
        let term = |id: u32| {
            let e = &terms[id as usize];
            &bytes[e.start as usize..(e.start + e.len) as usize]
        };
        let mut order: Vec<(u64, u32)> = (0..n as u32).map(|id| (prefix_key(term(id)), id)).collect();
        order.sort_unstable_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| term(*a).cmp(term(*b))));
        let order = order.into_iter().map(|(_, id)| id).collect();
        let spans = terms.iter().map(|e| (e.start, e.len)).collect();
        Derived { bytes, spans, order, sources, first, fill }
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn raw_term(&self, id: usize) -> &[u8] {
        let (start, len) = self.spans[id];
        &self.bytes[start as usize..(start + len) as usize]
    }

    /// The `i`-th term in sorted order.
    fn term(&self, i: usize) -> &[u8] {
        self.raw_term(self.order[i] as usize)
    }

    /// The raw string entries of the `i`-th term in sorted order (ascending entry numbers).
    fn sources(&self, i: usize) -> &[u32] {
        let t = self.order[i] as usize;
        &self.sources[self.first[t] as usize..self.fill[t] as usize]
    }
}

/// `value` as a varint at the start of `out`; how many bytes.
fn put_varint_into(out: &mut [u8; 10], mut value: u64) -> usize {
    let mut n = 0;
    while value >= 0x80 {
        out[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    out[n] = value as u8;
    n + 1
}

impl Column {
    /// The column with its dictionary sorted and ordinals renumbered.
    fn sorted(&self) -> ColumnData<'_> {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|a, b| self.values[*a as usize].cmp(&self.values[*b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (sorted, &ins) in order.iter().enumerate() {
            remap[ins as usize] = sorted as u32;
        }
        ColumnData {
            values: order.iter().map(|&i| self.values[i as usize].as_str()).collect(),
            multi: self.multi,
            starts: self.starts.clone(),
            ords: self.ords.iter().map(|o| remap[*o as usize]).collect(),
        }
    }
}
