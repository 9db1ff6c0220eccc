//! Streaming decoder for CloudTrail log files: gzip (multi-member) or plain JSON in, one record's
//! bytes at a time out, with limits on decompressed size, record size and nesting depth.
//!
//! The decoder never parses a whole file: it scans the JSON structure byte by byte, keeps only
//! the record it is inside, and hands each complete record to the caller, so memory stays bounded
//! whatever the file holds. Accepted shapes: CloudTrail's `{"Records": [...]}` (other top-level
//! keys are skipped), a bare array of records (`[...]`, as exported by `LookupEvents` tools and
//! Stratus Red Team), and records one after another (JSON Lines).

use std::io::{self, BufRead, Read};

use flate2::bufread::MultiGzDecoder;

/// Bounds on what one file may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes read from one file before giving up on it (gzip bombs).
    pub max_decompressed_bytes: u64,
    /// Bytes of one record; a larger record is skipped with an error, the rest of the file goes on.
    pub max_record_bytes: usize,
    /// Nesting depth of one record; a deeper record is skipped with an error.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_decompressed_bytes: 1 << 30, max_record_bytes: 1 << 20, max_depth: 64 }
    }
}

/// One record's bytes, as found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record's position in the file, from 0.
    pub index: usize,
    pub bytes: Vec<u8>,
}

/// What went wrong reading a file. Record-level errors leave the rest of the file readable;
/// the others end it (records already returned stay good).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
    #[error("gzip data is corrupt or truncated after {offset} decompressed bytes: {source}")]
    Gzip { offset: u64, source: io::Error },
    #[error("decompressed size exceeds the limit of {limit} bytes (a gzip bomb?)")]
    TooLarge { limit: u64 },
    #[error("file is empty")]
    Empty,
    #[error("invalid JSON at byte {offset}: {message}")]
    Syntax { offset: u64, message: String },
    #[error("file ends in the middle of the JSON at byte {offset} (truncated?)")]
    Truncated { offset: u64 },
    #[error("not a CloudTrail log file: the top-level object has no Records array")]
    NoRecords,
    #[error("Records is not an array (found {found})")]
    RecordsNotArray { found: &'static str },
    #[error("unexpected data after the end of the JSON at byte {offset}")]
    TrailingData { offset: u64 },
    #[error("record {index} is larger than the limit of {limit} bytes")]
    RecordTooLarge { index: usize, limit: usize },
    #[error("record {index} nests deeper than the limit of {limit} levels")]
    TooDeep { index: usize, limit: usize },
    #[error("record {index} is not a JSON object (found {found})")]
    NotAnObject { index: usize, found: &'static str },
}

impl DecodeError {
    /// Whether reading the file stops here.
    pub fn is_fatal(&self) -> bool {
        self.record_index().is_none()
    }

    /// The record the error is about, for record-level errors.
    pub fn record_index(&self) -> Option<usize> {
        match self {
            DecodeError::RecordTooLarge { index, .. }
            | DecodeError::TooDeep { index, .. }
            | DecodeError::NotAnObject { index, .. } => Some(*index),
            _ => None,
        }
    }
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Where the scanner stands between two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte, or between top-level values.
    Top,
    /// Inside `"Records": [`, before an element or a `,`.
    RecordsArray {
        first: bool,
    },
    /// Inside the top-level object, after the Records array: remaining keys are skipped.
    AfterRecords,
    /// Inside a top-level `[`, whose elements are records.
    TopArray {
        first: bool,
    },
    Done,
}

/// Reads the records of one file. An iterator of records and errors; it ends after a fatal error.
pub struct RecordReader<'a> {
    input: Input<'a>,
    limits: Limits,
    state: State,
    next_index: usize,
    seen_value: bool,
}

impl<'a> RecordReader<'a> {
    /// Starts reading `reader`, gunzipping it when it starts with the gzip magic bytes.
    pub fn new<R: BufRead + 'a>(reader: R, limits: Limits) -> Result<RecordReader<'a>> {
        Self::with_buffer_size(reader, limits, 256 * 1024)
    }

    /// [`RecordReader::new`] with a chosen read-buffer size (tests use tiny ones to put every
    /// byte on a buffer boundary).
    #[doc(hidden)]
    pub fn with_buffer_size<R: BufRead + 'a>(
        mut reader: R,
        limits: Limits,
        buffer: usize,
    ) -> Result<RecordReader<'a>> {
        let is_gzip = reader.fill_buf().map_err(DecodeError::Io)?.starts_with(&[0x1f, 0x8b]);
        let src: Box<dyn Read + 'a> =
            if is_gzip { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
        Ok(RecordReader {
            input: Input::new(src, is_gzip, limits.max_decompressed_bytes, buffer.max(1)),
            limits,
            state: State::Top,
            next_index: 0,
            seen_value: false,
        })
    }

    /// Decompressed bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.input.offset()
    }

    fn step(&mut self) -> Result<Option<RawRecord>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Top => {
                    self.input.skip_ws_and_bom()?;
                    match self.input.peek()? {
                        None if !self.seen_value => return Err(DecodeError::Empty),
                        None => {
                            self.state = State::Done;
                            return Ok(None);
                        }
                        Some(b'[') if !self.seen_value => {
                            self.seen_value = true;
                            self.input.bump();
                            self.state = State::TopArray { first: true };
                        }
                        Some(b'{') => {
                            self.seen_value = true;
                            if let Some(record) = self.top_object()? {
                                return Ok(Some(record));
                            }
                        }
                        Some(_) if self.seen_value => {
                            return Err(DecodeError::TrailingData { offset: self.input.offset() })
                        }
                        Some(b) => {
                            return Err(self.input.syntax(format!(
                                "expected {{ or [ at the start of the file, found {}",
                                describe(b)
                            )))
                        }
                    }
                }
                State::RecordsArray { first } | State::TopArray { first } => {
                    let in_records = matches!(self.state, State::RecordsArray { .. });
                    if self.input.separator(first, b']', "between records")? == Sep::Closed {
                        self.state = if in_records { State::AfterRecords } else { State::Top };
                        continue;
                    }
                    self.state = if in_records {
                        State::RecordsArray { first: false }
                    } else {
                        State::TopArray { first: false }
                    };
                    return self.element().map(Some);
                }
                State::AfterRecords => {
                    // Remaining keys of the top-level object, up to its `}`.
                    if self.object_members(false)?.is_some() {
                        return Err(self.input.syntax("Records appears twice".into()));
                    }
                    self.state = State::Top;
                }
            }
        }
    }

    /// Reads one element of a records array: a record, or a record-level error.
    fn element(&mut self) -> Result<RawRecord> {
        let index = self.next_index;
        self.next_index += 1;
        match self.input.peek()? {
            Some(b'{') => {
                let mut buf = Vec::new();
                match self.input.scan_value(
                    Some(&mut buf),
                    self.limits.max_record_bytes,
                    self.limits.max_depth,
                )? {
                    Scan::Complete => Ok(RawRecord { index, bytes: buf }),
                    Scan::TooLarge => {
                        Err(DecodeError::RecordTooLarge { index, limit: self.limits.max_record_bytes })
                    }
                    Scan::TooDeep => Err(DecodeError::TooDeep { index, limit: self.limits.max_depth }),
                }
            }
            None => Err(self.input.truncated()),
            Some(b) => {
                let found = kind_of(b);
                self.input.scan_value(None, 0, usize::MAX)?;
                Err(DecodeError::NotAnObject { index, found })
            }
        }
    }

    /// At a top-level `{`: either a CloudTrail document (a `Records` key) or a record of its own.
    /// Returns the record in the second case; in the first, leaves the state inside Records.
    fn top_object(&mut self) -> Result<Option<RawRecord>> {
        self.input.start_capture(self.limits.max_record_bytes);
        self.input.bump(); // `{`
        match self.object_members(true)? {
            Some(()) => {
                self.input.stop_capture(None);
                self.input.skip_ws()?;
                match self.input.peek()? {
                    Some(b'[') => {
                        self.input.bump();
                        self.state = State::RecordsArray { first: true };
                        Ok(None)
                    }
                    None => Err(self.input.truncated()),
                    Some(b) => Err(DecodeError::RecordsNotArray { found: kind_of(b) }),
                }
            }
            None => {
                let mut bytes = Vec::new();
                let complete = self.input.stop_capture(Some(&mut bytes));
                let index = self.next_index;
                self.next_index += 1;
                if !self.input.saw_record_key {
                    return Err(DecodeError::NoRecords);
                }
                if !complete {
                    return Err(DecodeError::RecordTooLarge { index, limit: self.limits.max_record_bytes });
                }
                if self.input.capture_depth_exceeded {
                    return Err(DecodeError::TooDeep { index, limit: self.limits.max_depth });
                }
                Ok(Some(RawRecord { index, bytes }))
            }
        }
    }

    /// Reads `"key": value` members of an object (just after its `{`, or after a value) up to
    /// its `}`. With `stop_at_records`, stops just after `"Records":` and returns `Some`.
    fn object_members(&mut self, stop_at_records: bool) -> Result<Option<()>> {
        self.input.saw_record_key = false;
        let mut first = !matches!(self.state, State::AfterRecords);
        loop {
            if self.input.separator(first, b'}', "in an object")? == Sep::Closed {
                return Ok(None);
            }
            first = false;
            let key = self.input.read_key()?;
            self.input.skip_ws()?;
            match self.input.peek()? {
                Some(b':') => self.input.bump(),
                None => return Err(self.input.truncated()),
                Some(b) => {
                    return Err(self.input.syntax(format!("expected : after a key, found {}", describe(b))))
                }
            }
            if key == b"Records" && (stop_at_records || !matches!(self.state, State::Top)) {
                return Ok(Some(()));
            }
            if matches!(&key[..], b"eventTime" | b"eventName" | b"eventVersion" | b"eventID") {
                self.input.saw_record_key = true;
            }
            self.input.skip_ws()?;
            if self.input.peek()?.is_none() {
                return Err(self.input.truncated());
            }
            // The member's value: skipped (or captured, inside a top-level record).
            self.input.scan_value(None, 0, self.limits.max_depth.saturating_sub(1))?;
        }
    }
}

impl Iterator for RecordReader<'_> {
    type Item = Result<RawRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Done {
            return None;
        }
        match self.step() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => None,
            Err(e) => {
                if e.is_fatal() {
                    self.state = State::Done;
                }
                Some(Err(e))
            }
        }
    }
}

/// What stands between two members of an array or object.
#[derive(Debug, PartialEq, Eq)]
enum Sep {
    /// The container's closing bracket (consumed).
    Closed,
    /// A `,` (consumed), or nothing before the first member: a member follows.
    Next,
}

/// How scanning one value ended.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    Complete,
    TooLarge,
    TooDeep,
}

/// Bytes of structure that matter when scanning a value outside strings.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// A buffered, size-limited byte source with an optional capture of the bytes consumed.
struct Input<'a> {
    src: Box<dyn Read + 'a>,
    is_gzip: bool,
    limit: u64,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Bytes consumed before `buf[0]`.
    base: u64,
    eof: bool,
    /// Capture of a top-level object that may turn out to be a record.
    capture: Option<Capture>,
    saw_record_key: bool,
    capture_depth_exceeded: bool,
}

struct Capture {
    bytes: Vec<u8>,
    /// Start of the not-yet-copied span in `buf`.
    span: usize,
    limit: usize,
    overflow: bool,
}

impl<'a> Input<'a> {
    fn new(src: Box<dyn Read + 'a>, is_gzip: bool, limit: u64, buffer: usize) -> Self {
        Input {
            src,
            is_gzip,
            limit,
            buf: vec![0; buffer].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            capture: None,
            saw_record_key: false,
            capture_depth_exceeded: false,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn syntax(&self, message: String) -> DecodeError {
        DecodeError::Syntax { offset: self.offset(), message }
    }

    fn truncated(&self) -> DecodeError {
        DecodeError::Truncated { offset: self.offset() }
    }

    /// Makes at least one unread byte available; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.flush_capture();
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        if let Some(c) = &mut self.capture {
            c.span = 0;
        }
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    if self.base + n as u64 > self.limit {
                        return Err(DecodeError::TooLarge { limit: self.limit });
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if self.is_gzip => return Err(DecodeError::Gzip { offset: self.base, source: e }),
                Err(e) => return Err(DecodeError::Io(e)),
            }
        }
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(if self.fill()? { Some(self.buf[self.pos]) } else { None })
    }

    /// Consumes the byte last peeked.
    fn bump(&mut self) {
        self.pos += 1;
    }

    fn skip_ws(&mut self) -> Result<()> {
        while self.fill()? {
            let rest = &self.buf[self.pos..self.len];
            match rest.iter().position(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
                Some(n) => {
                    self.pos += n;
                    return Ok(());
                }
                None => self.pos = self.len,
            }
        }
        Ok(())
    }

    /// Reads what comes before the next member of a container closed by `close`: the closing
    /// bracket, or a `,` (not before the first member). `place` names the container in errors.
    fn separator(&mut self, first: bool, close: u8, place: &str) -> Result<Sep> {
        self.skip_ws()?;
        match self.peek()? {
            None => Err(self.truncated()),
            Some(b) if b == close => {
                self.bump();
                Ok(Sep::Closed)
            }
            Some(b',') if !first => {
                self.bump();
                self.skip_ws()?;
                Ok(Sep::Next)
            }
            Some(b) if !first => {
                Err(self.syntax(format!("expected , or {} {place}, found {}", close as char, describe(b))))
            }
            Some(_) => Ok(Sep::Next),
        }
    }

    fn skip_ws_and_bom(&mut self) -> Result<()> {
        self.skip_ws()?;
        if self.offset() == 0 && self.fill()? && self.buf[self.pos..self.len].starts_with(b"\xEF\xBB\xBF") {
            self.pos += 3;
            self.skip_ws()?;
        }
        Ok(())
    }

    fn start_capture(&mut self, limit: usize) {
        self.capture = Some(Capture { bytes: Vec::new(), span: self.pos, limit, overflow: false });
        self.capture_depth_exceeded = false;
    }

    fn flush_capture(&mut self) {
        if let Some(c) = &mut self.capture {
            let span = &self.buf[c.span..self.pos];
            if !c.overflow {
                if c.bytes.len() + span.len() > c.limit {
                    c.overflow = true;
                    c.bytes = Vec::new();
                } else {
                    c.bytes.extend_from_slice(span);
                }
            }
            c.span = self.pos;
        }
    }

    /// Ends the capture, moving its bytes into `out`; returns false when it overflowed.
    fn stop_capture(&mut self, out: Option<&mut Vec<u8>>) -> bool {
        self.flush_capture();
        match (self.capture.take(), out) {
            (Some(c), Some(out)) if !c.overflow => {
                *out = c.bytes;
                true
            }
            (Some(c), _) => !c.overflow,
            (None, _) => true,
        }
    }

    /// Reads an object key (at a `"`), returning its raw bytes (escapes left as they are).
    fn read_key(&mut self) -> Result<Vec<u8>> {
        match self.peek()? {
            Some(b'"') => self.bump(),
            None => return Err(self.truncated()),
            Some(b) => return Err(self.syntax(format!("expected a key in quotes, found {}", describe(b)))),
        }
        let mut key = Vec::new();
        loop {
            if !self.fill()? {
                return Err(self.truncated());
            }
            let rest = &self.buf[self.pos..self.len];
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(n) => {
                    key.extend_from_slice(&rest[..n]);
                    let b = rest[n];
                    self.pos += n + 1;
                    if b == b'"' {
                        return Ok(key);
                    }
                    key.push(b'\\');
                    if !self.fill()? {
                        return Err(self.truncated());
                    }
                    key.push(self.buf[self.pos]);
                    self.pos += 1;
                }
                None => {
                    key.extend_from_slice(rest);
                    self.pos = self.len;
                }
            }
            if key.len() > 64 * 1024 {
                return Err(self.syntax("object key longer than 64 KiB".into()));
            }
        }
    }

    /// Scans one JSON value starting at the current byte, copying it into `out` when given (up
    /// to `max_bytes`), and checking nesting against `max_depth`. Containers are matched by
    /// counting brackets; full validation is left to the JSON parser that reads the record.
    fn scan_value(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        max_bytes: usize,
        max_depth: usize,
    ) -> Result<Scan> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut too_deep = false;
        let mut too_large = false;
        let mut started = false;
        loop {
            if !self.fill()? {
                return if !started || depth > 0 || in_string {
                    Err(self.truncated())
                } else {
                    // A scalar that runs to the end of the input.
                    Ok(Scan::Complete)
                };
            }
            let start = self.pos;
            let mut i = self.pos;
            let end = self.len;
            let mut done = false;
            while i < end {
                let b = self.buf[i];
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &self.buf[i..end]) {
                        Some(n) => {
                            i += n;
                            if self.buf[i] == b'\\' {
                                i += 2;
                                continue;
                            }
                            in_string = false;
                            i += 1;
                            if depth == 0 {
                                done = true;
                                break;
                            }
                        }
                        None => i = end,
                    }
                    continue;
                }
                if !started {
                    started = true;
                    match b {
                        b'"' => {
                            in_string = true;
                            i += 1;
                            continue;
                        }
                        b'{' | b'[' => {}
                        _ => {
                            // A scalar: up to the next delimiter.
                            match self.buf[i..end]
                                .iter()
                                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                            {
                                Some(n) => {
                                    i += n;
                                    done = true;
                                    break;
                                }
                                None => {
                                    i = end;
                                    continue;
                                }
                            }
                        }
                    }
                }
                if !STRUCTURAL[b as usize] {
                    i += 1;
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        depth += 1;
                        if depth > max_depth {
                            too_deep = true;
                        }
                    }
                    _ => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                }
                i += 1;
            }
            // An escape at the very end of the buffer skips into the next one.
            let consumed_to = i.min(end);
            let carry = i - consumed_to;
            if let Some(out) = out.as_deref_mut() {
                if !too_large {
                    let span = &self.buf[start..consumed_to];
                    if out.len() + span.len() > max_bytes {
                        too_large = true;
                        *out = Vec::new();
                    } else {
                        out.extend_from_slice(span);
                    }
                }
            }
            self.pos = consumed_to;
            if carry > 0 {
                if !self.fill()? {
                    return Err(self.truncated());
                }
                if let Some(out) = out.as_deref_mut() {
                    if !too_large {
                        out.push(self.buf[self.pos]);
                    }
                }
                self.pos += carry;
            }
            if done {
                if too_deep {
                    self.capture_depth_exceeded = true;
                    return Ok(Scan::TooDeep);
                }
                return Ok(if too_large { Scan::TooLarge } else { Scan::Complete });
            }
        }
    }
}

fn kind_of(b: u8) -> &'static str {
    match b {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => "invalid JSON",
    }
}

fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}
