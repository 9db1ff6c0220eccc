//! Byte-level encodings shared by the segment writer and reader: varints, bit-packed integers,
//! order-preserving numbers, and a bounds-checked cursor over untrusted bytes.

use crate::{Error, Result};

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads what the writer wrote; every read is checked, so a damaged file gives an error,
/// never a panic.
#[derive(Clone)]
pub struct Cursor<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    pub fn at(bytes: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor { bytes, pos }
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or_else(|| damaged("varint past the end"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(damaged("varint too long"))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| damaged("short read"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

pub fn damaged(what: &str) -> Error {
    Error::Directory(format!("a segment file is damaged: {what}"))
}

/// Reads the little-endian u32 at index `i` of `bytes` (bounds already checked at open).
#[inline]
pub fn u32_at(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
}

#[inline]
pub fn i64_at(bytes: &[u8], i: usize) -> i64 {
    i64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

#[inline]
pub fn u64_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

/// Bits needed to hold every value up to `max`.
pub fn bits_for(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Packs `values` with `bits` bits each, low bits first, followed by 8 bytes of padding so
/// that any value can be read with one unaligned 8-byte load.
pub fn bitpack(values: &[u32], bits: u32, out: &mut Vec<u8>) {
    let start = out.len();
    let total_bytes = (values.len() * bits as usize).div_ceil(8) + 8;
    out.resize(start + total_bytes, 0);
    if bits == 0 {
        return;
    }
    let buf = &mut out[start..];
    for (i, &v) in values.iter().enumerate() {
        let bit = i * bits as usize;
        let (byte, shift) = (bit / 8, bit % 8);
        let word = u64::from_le_bytes(buf[byte..byte + 8].try_into().expect("8 bytes"));
        let word = word | (u64::from(v) << shift);
        buf[byte..byte + 8].copy_from_slice(&word.to_le_bytes());
    }
}

/// Bytes `bitpack` writes for `n` values of `bits` bits.
pub fn bitpacked_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8) + 8
}

/// The `i`th value packed by [`bitpack`] (bits <= 32).
#[inline]
pub fn unpack(buf: &[u8], bits: u32, i: usize) -> u32 {
    if bits == 0 {
        return 0;
    }
    let bit = i * bits as usize;
    let (byte, shift) = (bit / 8, bit % 8);
    let word = u64::from_le_bytes(buf[byte..byte + 8].try_into().expect("8 bytes"));
    ((word >> shift) & ((1u64 << bits) - 1)) as u32
}

/// An f64 as 8 bytes whose byte order is the numbers' order (`-0.0` as `0.0`).
pub fn ordered_f64(x: f64) -> [u8; 8] {
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits();
    let b = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    b.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            put_varint(&mut out, v);
        }
        let mut c = Cursor::new(&out);
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            assert_eq!(c.varint().unwrap(), v);
        }
        assert!(c.is_done());
        assert!(c.varint().is_err());
    }

    #[test]
    fn bitpacking_round_trips() {
        for bits in [0u32, 1, 3, 7, 13, 20, 32] {
            let max = if bits == 0 { 0 } else { ((1u64 << bits) - 1) as u32 };
            let values: Vec<u32> = (0..1000u32).map(|i| i.wrapping_mul(2654435761) & max).collect();
            let mut out = Vec::new();
            bitpack(&values, bits, &mut out);
            assert_eq!(out.len(), bitpacked_len(values.len(), bits));
            for (i, v) in values.iter().enumerate() {
                assert_eq!(unpack(&out, bits, i), *v, "bits {bits} index {i}");
            }
        }
    }

    #[test]
    fn ordered_floats_sort_like_numbers() {
        let mut xs =
            vec![-1e300, -5.5, -1.0, -0.0, 0.0, 1e-9, 1.0, 2.5, 1e300, f64::INFINITY, f64::NEG_INFINITY];
        let mut by_bytes = xs.clone();
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        by_bytes.sort_by_key(|x| ordered_f64(*x));
        assert_eq!(
            xs.iter().map(|x| ordered_f64(*x)).collect::<Vec<_>>(),
            by_bytes.iter().map(|x| ordered_f64(*x)).collect::<Vec<_>>()
        );
        assert_eq!(ordered_f64(-0.0), ordered_f64(0.0));
    }
}
