//! An in-memory segment being filled with events, written to one immutable file when full or
//! at a commit. Every term an event has (see [`crate::terms`]) goes into a hash table of term
//! ids whose bytes live in one arena; postings are delta varints, so a term costs ~20 bytes
//! plus its text and a posting ~1 byte. Facetable fields become dictionary-encoded columns,
//! records go into zstd blocks.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use trailwatch_cloudtrail::Event;
use trailwatch_query::{FieldValues, KnownField};

use crate::codec::put_varint;
use crate::segfile::{write_columns, write_doc_columns, BlockWriter, ColumnData, DictWriter, SegmentFile};
use crate::terms::{columns, for_each_term};
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
    table: HashTable<u32>,
    arena: Vec<u8>,
    /// Term `i` is `arena[ends[i - 1]..ends[i]]` (`ends[-1]` = 0).
    ends: Vec<u32>,
    first: Vec<u32>,
    /// Per term: its last document, its document count, and the index into `lists` of its
    /// later postings (0: none yet).
    state: Vec<[u32; 3]>,
    lists: Vec<Vec<u8>>,
    time: Vec<i64>,
    received: Vec<i64>,
    id_hash: Vec<u64>,
    columns: Vec<(KnownField, Column)>,
    blocks: BlockWriter,
    scratch: Vec<u8>,
    /// The terms of the document being added (hash, start, length in `doc_bytes`): a term
    /// seen twice in one document (a word in many strings) costs one lookup here, in cache,
    /// instead of a second one in the big table.
    doc_terms: HashTable<(u64, u32, u32)>,
    doc_bytes: Vec<u8>,
}

impl Builder {
    pub fn new() -> Result<Builder> {
        Ok(Builder {
            docs: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x7472_6169_6c77_6174),
            table: HashTable::new(),
            arena: Vec::new(),
            ends: Vec::new(),
            first: Vec::new(),
            state: Vec::new(),
            lists: vec![Vec::new()],
            time: Vec::new(),
            received: Vec::new(),
            id_hash: Vec::new(),
            columns: columns().map(|f| (f, Column { starts: vec![0], ..Column::default() })).collect(),
            blocks: BlockWriter::new()?,
            scratch: Vec::with_capacity(256),
            doc_terms: HashTable::with_capacity(512),
            doc_bytes: Vec::with_capacity(16 * 1024),
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
            + self.blocks.memory()
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
        for_each_term(event, &mut buf, &mut |t| {
            let hash = self.hasher.hash_one(t);
            let bytes = &self.doc_bytes;
            let seen = self
                .doc_terms
                .find(hash, |&(h, s, l)| h == hash && &bytes[s as usize..(s + l) as usize] == t)
                .is_some();
            if !seen {
                let start = self.doc_bytes.len() as u32;
                self.doc_bytes.extend_from_slice(t);
                self.doc_terms.insert_unique(hash, (hash, start, t.len() as u32), |e| e.0);
                self.post(t, hash, doc);
            }
        });
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

    fn post(&mut self, term: &[u8], hash: u64, doc: u32) {
        let (arena, ends) = (&self.arena, &self.ends);
        let bytes = |id: u32| term_at(arena, ends, id);
        if let Some(&id) = self.table.find(hash, |&id| bytes(id) == term) {
            // Last document, document count, list: one cache line for a hit.
            let st = &mut self.state[id as usize];
            if st[0] == doc {
                return;
            }
            let delta = doc - st[0];
            if st[2] == 0 {
                st[2] = self.lists.len() as u32;
                self.lists.push(Vec::with_capacity(4));
            }
            st[0] = doc;
            st[1] += 1;
            put_varint(&mut self.lists[st[2] as usize], u64::from(delta));
            return;
        }
        let id = self.ends.len() as u32;
        self.arena.extend_from_slice(term);
        self.ends.push(self.arena.len() as u32);
        self.first.push(doc);
        self.state.push([doc, 1, 0]);
        let (arena, ends, hasher) = (&self.arena, &self.ends, &self.hasher);
        self.table.insert_unique(hash, id, |&id| hasher.hash_one(term_at(arena, ends, id)));
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
        let docs = self.docs;
        self.blocks.write(&mut file)?;
        file.finish()?;
        Ok(docs)
    }

    /// The sorted dictionary and the posting lists.
    fn write_terms(&mut self, file: &mut SegmentFile) -> Result<()> {
        let (arena, ends) = (&self.arena, &self.ends);
        let bytes = |id: u32| term_at(arena, ends, id);
        let mut order: Vec<u32> = (0..self.ends.len() as u32).collect();
        order.sort_unstable_by(|a, b| bytes(*a).cmp(bytes(*b)));
        let mut dict = DictWriter::new(file)?;
        let mut docs = Vec::new();
        for &id in &order {
            let idx = id as usize;
            docs.clear();
            docs.push(self.first[idx]);
            let list = &self.lists[self.state[idx][2] as usize];
            let mut c = crate::codec::Cursor::new(list);
            let mut d = self.first[idx];
            while !c.is_done() {
                d += c.varint()? as u32;
                docs.push(d);
            }
            dict.add(file, bytes(id), &docs)?;
        }
        dict.finish(file)
    }
}

/// Term `id`'s bytes in the arena.
fn term_at<'a>(arena: &'a [u8], ends: &[u32], id: u32) -> &'a [u8] {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &arena[start..ends[id] as usize]
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
