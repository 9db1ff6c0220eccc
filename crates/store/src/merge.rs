//! Several segments into one, without indexing anything again: documents are renumbered in
//! order (deleted ones dropped), dictionaries and columns are merged in sorted order, postings
//! renumbered, and record blocks copied as they are unless they held deleted documents.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use roaring::RoaringBitmap;

use crate::segfile::{
    write_doc_columns, BlockWriter, ColumnData, ColumnsWriter, DictWriter, SegmentFile, S_COLUMNS, S_RECORDS,
};
use crate::segment::{Entry, Segment, TermIter};
use crate::terms::columns;
use crate::Result;

/// A segment to merge and its documents still alive.
pub struct Input<'a> {
    pub seg: &'a Segment,
    pub live: &'a RoaringBitmap,
}

/// Where each input's documents go in the merged segment.
struct DocMap {
    base: u32,
    /// Per document its number among the input's live ones (`u32::MAX`: deleted); `None`
    /// when none is deleted.
    ranks: Option<Vec<u32>>,
}

impl DocMap {
    #[inline]
    fn map(&self, doc: u32) -> Option<u32> {
        match &self.ranks {
            None => Some(self.base + doc),
            Some(r) => match r.get(doc as usize) {
                Some(&x) if x != u32::MAX => Some(self.base + x),
                _ => None,
            },
        }
    }
}

/// Writes the merge of `inputs` (in this order) to `path`; returns its document count.
pub fn merge(inputs: &[Input<'_>], path: &Path) -> Result<u32> {
    let mut maps = Vec::with_capacity(inputs.len());
    let mut total = 0u32;
    for i in inputs {
        let full = i.live.len() == u64::from(i.seg.docs);
        let ranks = (!full).then(|| {
            let mut r = vec![u32::MAX; i.seg.docs as usize];
            for (k, d) in i.live.iter().enumerate() {
                r[d as usize] = k as u32;
            }
            r
        });
        maps.push(DocMap { base: total, ranks });
        total += i.live.len() as u32;
    }

    let mut file = SegmentFile::create(path)?;
    let (mut time, mut received, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for i in inputs {
        for d in i.live {
            time.push(i.seg.time(d));
            received.push(i.seg.received(d));
            ids.push(i.seg.id_hash(d));
        }
    }
    write_doc_columns(&mut file, &time, &received, &ids)?;
    drop((time, received, ids));

    let mut columns_out = ColumnsWriter::default();
    for field in columns() {
        let cols: Vec<_> = inputs.iter().map(|i| i.seg.column(field)).collect();
        // Merge the sorted dictionaries; `remap[input][old ordinal]` = merged ordinal.
        let mut iters: Vec<_> =
            inputs.iter().zip(&cols).map(|(i, c)| c.map(|c| i.seg.values(c).peekable())).collect();
        let mut remap: Vec<Vec<u32>> = inputs
            .iter()
            .zip(&cols)
            .map(|(i, c)| Vec::with_capacity(c.map_or(0, |c| i.seg.nvalues(c) as usize)))
            .collect();
        let mut heap = BinaryHeap::new();
        for (k, it) in iters.iter_mut().enumerate() {
            if let Some(v) = it.as_mut().and_then(|it| it.next()) {
                heap.push(Reverse((v, k)));
            }
        }
        let mut values: Vec<&str> = Vec::new();
        while let Some(Reverse((v, k))) = heap.pop() {
            if values.last() != Some(&v) {
                values.push(v);
            }
            remap[k].push(values.len() as u32 - 1);
            if let Some(next) = iters[k].as_mut().and_then(|it| it.next()) {
                heap.push(Reverse((next, k)));
            }
        }
        let mut starts = Vec::with_capacity(total as usize + 1);
        starts.push(0u32);
        let mut ords = Vec::with_capacity(total as usize);
        let mut multi = false;
        for ((i, c), r) in inputs.iter().zip(&cols).zip(&remap) {
            for d in i.live {
                if let Some(c) = c {
                    let before = ords.len();
                    i.seg.ords(c, d, &mut |o| ords.push(r[o as usize]));
                    multi |= ords.len() - before > 1;
                }
                starts.push(ords.len() as u32);
            }
        }
        columns_out.add(&ColumnData { values, multi, starts, ords }, total);
    }
    file.section(S_COLUMNS, &columns_out.finish())?;
    release(inputs);

    merge_terms(inputs, &maps, &mut file)?;
    release(inputs);

    let mut blocks = BlockWriter::new()?;
    file.begin(S_RECORDS);
    for (i, m) in inputs.iter().zip(&maps) {
        for b in 0..i.seg.record_blocks() {
            if m.ranks.is_none() {
                let (stored, count) = i.seg.sealed_block(b)?;
                blocks.append_sealed(stored, count)?;
                blocks.drain(&mut file)?;
            } else {
                let block = i.seg.block(b)?;
                for k in 0..block.spans.len() as u32 {
                    let doc = block.first + k;
                    if i.live.contains(doc) {
                        let (record, title) = block.doc(doc)?;
                        blocks.add(record, title.as_bytes())?;
                    }
                }
                blocks.drain(&mut file)?;
            }
        }
        i.seg.release_pages();
    }
    blocks.finish_streamed(&mut file)?;
    file.finish()?;
    Ok(total)
}

/// See [`Segment::release_pages`].
fn release(inputs: &[Input<'_>]) {
    inputs.iter().for_each(|i| i.seg.release_pages());
}

/// Terms between two releases of the inputs' pages.
const TERMS_PER_RELEASE: usize = 200_000;

fn merge_terms(inputs: &[Input<'_>], maps: &[DocMap], file: &mut SegmentFile) -> Result<()> {
    let mut iters: Vec<TermIter<'_>> = inputs.iter().map(|i| i.seg.terms()).collect();
    let mut current: Vec<Option<Entry>> = Vec::with_capacity(inputs.len());
    let mut heap = BinaryHeap::new();
    for (k, it) in iters.iter_mut().enumerate() {
        let e = it.next_entry()?;
        if e.is_some() {
            heap.push(Reverse((it.term.clone(), k)));
        }
        current.push(e);
    }
    let mut dict = DictWriter::new(file)?;
    let mut docs: Vec<u32> = Vec::new();
    let mut written = 0usize;
    while let Some(Reverse((term, k))) = heap.pop() {
        // Every input holding this term, in input order (ties pop by input number).
        let mut holders = vec![k];
        while heap.peek().is_some_and(|Reverse((t, _))| *t == term) {
            let Reverse((_, k2)) = heap.pop().expect("peeked");
            holders.push(k2);
        }
        docs.clear();
        for &k in &holders {
            let e = current[k].expect("a holder has an entry");
            let (seg, map) = (inputs[k].seg, &maps[k]);
            if e.df == 1 {
                docs.extend(map.map(e.at as u32));
            } else {
                docs.extend(seg.postings(e)?.iter().filter_map(|d| map.map(d)));
            }
            let next = iters[k].next_entry()?;
            if next.is_some() {
                heap.push(Reverse((iters[k].term.clone(), k)));
            }
            current[k] = next;
        }
        if !docs.is_empty() {
            dict.add(file, &term, &docs)?;
        }
        written += 1;
        if written.is_multiple_of(TERMS_PER_RELEASE) {
            release(inputs);
        }
    }
    dict.finish(file)
}
