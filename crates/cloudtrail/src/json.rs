//! A parsed record that keeps its bytes: [`Json`] holds the record's original bytes and a flat
//! table of its values (one 24-byte node each, in document order), and [`Value`] is a borrowed
//! view of one of them, read like `serde_json::Value`.
//!
//! Why not `serde_json::Value`: a record of ~1.6 KB holds ~100 values; a `serde_json::Value`
//! tree allocates each string and object separately, hashes every key into its map, and frees
//! all of it again, which cost a third of ingest. Here a record costs two allocations (the node
//! table and, only when some string has escapes, its decoded text), strings without escapes
//! are read in place, and nothing is hashed.
//!
//! Duplicate keys in one object are rejected: JSON leaves their meaning open, and an event
//! whose `userName` reads one way to the index and another to a rule is worse than an error.

use std::fmt;

/// A parse failure, at a byte offset of the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {message}")]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// Values nested deeper than this are rejected (the file decoder's own limit is lower; this one
/// keeps the recursive parser's stack bounded whoever calls it).
pub const MAX_DEPTH: usize = 256;

/// One record, parsed. Cheap to move; clones copy its text and node table.
#[derive(Clone)]
pub struct Json {
    /// The record as it was read (its bytes, checked to be UTF-8 by [`Json::parse`]).
    text: String,
    nodes: Vec<Node>,
    /// The text of strings and keys that hold escapes, decoded.
    decoded: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    Null,
    False,
    True,
    Number,
    String,
    Array,
    Object,
}

/// Where a key is read: in `bytes` or, with `KEY_DECODED`, in `decoded`.
const KEY_DECODED: u8 = 1;
/// The same for a string value.
const STR_DECODED: u8 = 2;

/// One value. Strings and numbers: `a`, `b` are the start and length of their text. Arrays and
/// objects: `a`, `b` are their first and past-the-end bytes, and `end` is the index of the
/// node after their last descendant (their children follow them, in order).
#[derive(Debug, Clone, Copy)]
struct Node {
    tag: Tag,
    flags: u8,
    key_start: u32,
    key_len: u32,
    a: u32,
    b: u32,
    end: u32,
}

impl Json {
    /// Parses one JSON value (a record is an object, but any value parses) from `bytes`.
    pub fn parse(bytes: Vec<u8>) -> Result<Json, JsonError> {
        if bytes.len() > u32::MAX as usize {
            return Err(JsonError { offset: 0, message: "larger than 4 GiB".into() });
        }
        // Checked once here (no copy): every span the parser records starts and ends next to
        // an ASCII byte, so the text is sliced afterwards without another check.
        let text = String::from_utf8(bytes).map_err(|e| JsonError {
            offset: e.utf8_error().valid_up_to(),
            message: "invalid UTF-8".into(),
        })?;
        let mut nodes = Vec::with_capacity(text.len() / 16 + 4);
        let mut decoded = String::new();
        let mut p = Parser {
            s: text.as_bytes(),
            t: &text,
            i: 0,
            nodes: &mut nodes,
            decoded: &mut decoded,
            members: Vec::new(),
        };
        p.value(0, 0, 0, 0)?;
        p.ws();
        if p.i < p.s.len() {
            return Err(p.err("unexpected data after the value"));
        }
        Ok(Json { text, nodes, decoded })
    }

    /// No record at all (its root reads as `null`), for events being built; allocates nothing.
    pub fn empty() -> Json {
        Json { text: String::new(), nodes: Vec::new(), decoded: String::new() }
    }

    /// The record's own bytes, as read.
    pub fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }

    /// The record as a whole.
    pub fn root(&self) -> Value<'_> {
        if self.nodes.is_empty() {
            return Value::Null;
        }
        self.value(0)
    }

    /// The same record as a `serde_json::Value` (keys in document order), for callers that
    /// need an owned tree (API answers, rule tests).
    pub fn to_serde(&self) -> serde_json::Value {
        self.root().to_serde()
    }

    fn value(&self, i: u32) -> Value<'_> {
        let n = &self.nodes[i as usize];
        match n.tag {
            Tag::Null => Value::Null,
            Tag::False => Value::Bool(false),
            Tag::True => Value::Bool(true),
            Tag::Number => Value::Number(Number(self.text(n.a, n.b, false))),
            Tag::String => Value::String(self.text(n.a, n.b, n.flags & STR_DECODED != 0)),
            Tag::Array => Value::Array(Array { doc: self, at: i }),
            Tag::Object => Value::Object(Object { doc: self, at: i }),
        }
    }

    fn key(&self, i: u32) -> &str {
        let n = &self.nodes[i as usize];
        self.text(n.key_start, n.key_len, n.flags & KEY_DECODED != 0)
    }

    fn text(&self, start: u32, len: u32, decoded: bool) -> &str {
        let (start, end) = (start as usize, start as usize + len as usize);
        if decoded {
            &self.decoded[start..end]
        } else {
            &self.text[start..end]
        }
    }

    /// The index of the node after `i` and its descendants.
    fn next(&self, i: u32) -> u32 {
        let n = &self.nodes[i as usize];
        match n.tag {
            Tag::Array | Tag::Object => n.end,
            _ => i + 1,
        }
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Json({})", self.text)
    }
}

/// One value of a [`Json`] record.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    String(&'a str),
    Array(Array<'a>),
    Object(Object<'a>),
}

impl<'a> Value<'a> {
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(self) -> Option<Object<'a>> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value at `key`, when this is an object that has it.
    pub fn get(self, key: &str) -> Option<Value<'a>> {
        self.as_object()?.get(key)
    }

    /// The value as a `serde_json::Value`.
    pub fn to_serde(self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::String(s) => serde_json::Value::String(s.to_owned()),
            Value::Number(n) => serde_json::from_str(n.0).unwrap_or(serde_json::Value::Null),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_serde).collect()),
            Value::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.to_owned(), v.to_serde())).collect())
            }
        }
    }
}

/// A JSON number, as written in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<'a>(&'a str);

impl<'a> Number<'a> {
    /// The number's value; `-0` reads as `0`. Always some (the parser checked the grammar);
    /// the `Option` mirrors `serde_json::Number::as_f64`.
    pub fn as_f64(self) -> Option<f64> {
        let x: f64 = self.0.parse().ok()?;
        Some(if x == 0.0 { 0.0 } else { x })
    }

    /// The number's text, as written.
    pub fn as_str(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An array of a [`Json`] record.
#[derive(Clone, Copy)]
pub struct Array<'a> {
    doc: &'a Json,
    at: u32,
}

impl<'a> Array<'a> {
    pub fn iter(self) -> Items<'a> {
        Items(Children::new(self.doc, self.at))
    }

    pub fn len(self) -> usize {
        Children::new(self.doc, self.at).count()
    }

    pub fn is_empty(self) -> bool {
        self.doc.nodes[self.at as usize].end == self.at + 1
    }
}

impl<'a> IntoIterator for Array<'a> {
    type Item = Value<'a>;
    type IntoIter = Items<'a>;

    fn into_iter(self) -> Items<'a> {
        self.iter()
    }
}

/// The items of an [`Array`], or the values of an [`Object`], in document order.
pub struct Items<'a>(Children<'a>);

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        let doc = self.0.doc;
        self.0.next().map(|i| doc.value(i))
    }
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An object of a [`Json`] record; its keys are unique.
#[derive(Clone, Copy)]
pub struct Object<'a> {
    doc: &'a Json,
    at: u32,
}

impl<'a> Object<'a> {
    pub fn get(self, key: &str) -> Option<Value<'a>> {
        Children::new(self.doc, self.at).find(|&i| self.doc.key(i) == key).map(|i| self.doc.value(i))
    }

    /// Members in document order.
    pub fn iter(self) -> Members<'a> {
        Members(Children::new(self.doc, self.at))
    }

    pub fn values(self) -> Items<'a> {
        Items(Children::new(self.doc, self.at))
    }

    pub fn len(self) -> usize {
        Children::new(self.doc, self.at).count()
    }

    pub fn is_empty(self) -> bool {
        self.doc.nodes[self.at as usize].end == self.at + 1
    }
}

impl<'a> IntoIterator for Object<'a> {
    type Item = (&'a str, Value<'a>);
    type IntoIter = Members<'a>;

    fn into_iter(self) -> Members<'a> {
        self.iter()
    }
}

/// The members of an [`Object`], keys and values, in document order.
pub struct Members<'a>(Children<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Value<'a>);

    fn next(&mut self) -> Option<(&'a str, Value<'a>)> {
        let doc = self.0.doc;
        self.0.next().map(|i| (doc.key(i), doc.value(i)))
    }
}

impl fmt::Debug for Object<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The node indices of a container's direct children.
#[derive(Clone)]
struct Children<'a> {
    doc: &'a Json,
    next: u32,
    end: u32,
}

impl<'a> Children<'a> {
    fn new(doc: &'a Json, at: u32) -> Children<'a> {
        Children { doc, next: at + 1, end: doc.nodes[at as usize].end }
    }
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        (self.next < self.end).then(|| {
            let i = self.next;
            self.next = self.doc.next(i);
            i
        })
    }
}

struct Parser<'s> {
    /// The record's bytes, and the same as text (valid UTF-8).
    s: &'s [u8],
    t: &'s str,
    i: usize,
    nodes: &'s mut Vec<Node>,
    decoded: &'s mut String,
    /// The member nodes of the objects being parsed, innermost last.
    members: Vec<u32>,
}

/// Objects with more members than this are checked for duplicate keys by sorting, not pairwise.
const PAIRWISE_KEYS: usize = 16;

impl Parser<'_> {
    fn err(&self, message: &str) -> JsonError {
        JsonError { offset: self.i, message: message.to_owned() }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Parses the value at the cursor into a node with the given key (`key_flags` says where
    /// its text is).
    fn value(&mut self, key_start: u32, key_len: u32, key_flags: u8, depth: usize) -> Result<(), JsonError> {
        self.ws();
        let mut node = Node { tag: Tag::Null, flags: key_flags, key_start, key_len, a: 0, b: 0, end: 0 };
        match self.peek() {
            None => return Err(self.err("unexpected end of the record")),
            Some(b'{') | Some(b'[') if depth >= MAX_DEPTH => return Err(self.err("nested too deep")),
            Some(b'{') => return self.object(node, depth),
            Some(b'[') => return self.array(node, depth),
            Some(b'"') => {
                let (start, len, decoded) = self.string()?;
                node.tag = Tag::String;
                (node.a, node.b) = (start, len);
                if decoded {
                    node.flags |= STR_DECODED;
                }
            }
            Some(b't') => node.tag = self.literal(b"true", Tag::True)?,
            Some(b'f') => node.tag = self.literal(b"false", Tag::False)?,
            Some(b'n') => node.tag = self.literal(b"null", Tag::Null)?,
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.number()?;
                node.tag = Tag::Number;
                (node.a, node.b) = (start as u32, (self.i - start) as u32);
            }
            Some(_) => return Err(self.err("expected a value")),
        }
        self.nodes.push(node);
        Ok(())
    }

    fn literal(&mut self, word: &[u8], tag: Tag) -> Result<Tag, JsonError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(tag)
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        let digits = |p: &mut Parser<'_>| {
            let start = p.i;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.i += 1;
            }
            p.i - start
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number: no digit after the decimal point"));
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number: no digit in the exponent"));
            }
            exponent = true;
        }
        // Beyond f64 (1e400): refused, as serde_json does, rather than read as infinity. Only
        // an exponent or 300 digits can get there.
        if (exponent || self.i - start > 300)
            && !self.t[start..self.i].parse::<f64>().is_ok_and(f64::is_finite)
        {
            return Err(JsonError { offset: start, message: "number out of range".into() });
        }
        Ok(())
    }

    fn array(&mut self, node: Node, depth: usize) -> Result<(), JsonError> {
        self.container(node, Tag::Array, b']', "an array", |p| p.value(0, 0, 0, depth + 1)).map(|_| ())
    }

    fn object(&mut self, node: Node, depth: usize) -> Result<(), JsonError> {
        let base = self.members.len();
        let at = self.container(node, Tag::Object, b'}', "an object", |p| {
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(p.err("expected a key (a string) in an object"));
            }
            let (start, len, decoded) = p.string()?;
            p.ws();
            if p.peek() != Some(b':') {
                return Err(p.err("expected : after a key"));
            }
            p.i += 1;
            // The member's node is the next one pushed (a container pushes its own first).
            p.members.push(p.nodes.len() as u32);
            p.value(start, len, if decoded { KEY_DECODED } else { 0 }, depth + 1)
        })?;
        let unique = self.check_unique(at, base);
        self.members.truncate(base);
        unique
    }

    /// An array or object from its opening byte at the cursor to past `close`, each member read
    /// by `member`; returns the index of its node, whose end it sets.
    fn container(
        &mut self,
        mut node: Node,
        tag: Tag,
        close: u8,
        what: &str,
        mut member: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<usize, JsonError> {
        node.tag = tag;
        node.a = self.i as u32;
        let at = self.nodes.len();
        self.nodes.push(node);
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
        } else {
            loop {
                member(self)?;
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(c) if c == close => {
                        self.i += 1;
                        break;
                    }
                    None => return Err(self.err(&format!("unexpected end of the record in {what}"))),
                    Some(_) => return Err(self.err(&format!("expected , or {} in {what}", close as char))),
                }
            }
        }
        let end = self.nodes.len() as u32;
        let n = &mut self.nodes[at];
        (n.b, n.end) = (self.i as u32, end);
        Ok(at)
    }

    fn key_of(&self, i: u32) -> &[u8] {
        let n = &self.nodes[i as usize];
        let (start, end) = (n.key_start as usize, (n.key_start + n.key_len) as usize);
        if n.flags & KEY_DECODED != 0 {
            &self.decoded.as_bytes()[start..end]
        } else {
            &self.s[start..end]
        }
    }

    /// Whether the keys of the object at `at` (its members' nodes are `members[base..]`) are
    /// unique: pairwise while it is small, else by sorting them.
    fn check_unique(&self, at: usize, base: usize) -> Result<(), JsonError> {
        let members = &self.members[base..];
        let duplicate = if members.len() <= PAIRWISE_KEYS {
            members.iter().enumerate().find_map(|(k, &i)| {
                let key = self.key_of(i);
                members[..k].iter().any(|&j| self.key_of(j) == key).then_some(key)
            })
        } else {
            let mut keys: Vec<&[u8]> = members.iter().map(|&i| self.key_of(i)).collect();
            keys.sort_unstable();
            keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
        };
        match duplicate {
            Some(key) => Err(JsonError {
                offset: self.nodes[at].a as usize,
                message: format!(
                    "duplicate key {:?} in the object starting here",
                    String::from_utf8_lossy(key)
                ),
            }),
            None => Ok(()),
        }
    }

    /// Reads the string at the cursor (its opening quote): its start and length, in the
    /// record's bytes or (`true`) in `decoded` when it holds escapes.
    fn string(&mut self) -> Result<(u32, u32, bool), JsonError> {
        self.i += 1;
        let start = self.i;
        let stop = self.scan(start);
        match self.s.get(stop) {
            Some(b'"') => {
                self.i = stop + 1;
                Ok((start as u32, (stop - start) as u32, false))
            }
            Some(b'\\') => {
                let from = self.decoded.len();
                // `start..stop` ends before an ASCII byte: whole characters.
                self.decoded.push_str(&self.t[start..stop]);
                self.i = stop;
                self.escaped()?;
                Ok((from as u32, (self.decoded.len() - from) as u32, true))
            }
            Some(_) => {
                self.i = stop;
                Err(self.err("control character in a string (must be escaped)"))
            }
            None => {
                self.i = stop;
                Err(self.err("unexpected end of the record in a string"))
            }
        }
    }

    /// The index of the first `"`, `\` or control byte at or after `i` (or the end).
    fn scan(&self, mut i: usize) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let s = self.s;
        while i + 8 <= s.len() {
            let w = u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
            // A byte is flagged when it is below 0x20, or equals `"` or `\` (the classic
            // "has zero byte" test on w, w ^ '"'s and w ^ '\'s). Bytes >= 0x80 set no flag.
            let quote = w ^ (ONES * u64::from(b'"'));
            let slash = w ^ (ONES * u64::from(b'\\'));
            let below = w.wrapping_sub(ONES * 0x20) & !w;
            let flags =
                (below | (quote.wrapping_sub(ONES) & !quote) | (slash.wrapping_sub(ONES) & !slash)) & HIGHS;
            if flags != 0 {
                break;
            }
            i += 8;
        }
        while i < s.len() && !matches!(s[i], b'"' | b'\\' | 0..=0x1f) {
            i += 1;
        }
        i
    }

    /// Decodes the rest of a string with escapes into `decoded`, from the cursor (on a `\`)
    /// to past the closing quote.
    fn escaped(&mut self) -> Result<(), JsonError> {
        loop {
            match self.peek() {
                None => return Err(self.err("unexpected end of the record in a string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    let c = match self.s.get(self.i + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let c = self.unicode_escape()?;
                            self.decoded.push(c);
                            continue;
                        }
                        _ => return Err(self.err("invalid escape in a string")),
                    };
                    self.decoded.push(c);
                    self.i += 2;
                }
                Some(0..=0x1f) => return Err(self.err("control character in a string (must be escaped)")),
                Some(_) => {
                    let stop = self.scan(self.i);
                    self.decoded.push_str(&self.t[self.i..stop]);
                    self.i = stop;
                }
            }
        }
    }

    /// A `\u` escape and its four hex digits at the cursor (and the low surrogate's, for a
    /// pair); leaves the cursor after it.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hex4 = |p: &Parser<'_>, at: usize| -> Result<u32, JsonError> {
            let digits =
                p.s.get(at..at + 4).ok_or_else(|| p.err("unexpected end of the record in a \\u escape"))?;
            // Four hex digits exactly: no sign, no other character.
            digits
                .iter()
                .try_fold(0u32, |v, &b| Some(v * 16 + (b as char).to_digit(16)?))
                .ok_or_else(|| p.err("invalid \\u escape"))
        };
        let first = hex4(self, self.i + 2)?;
        if (0xD800..0xDC00).contains(&first) {
            if self.s.get(self.i + 6..self.i + 8) != Some(b"\\u") {
                return Err(self.err("lone leading surrogate in a \\u escape"));
            }
            let second = hex4(self, self.i + 8)?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.err("invalid low surrogate in a \\u escape"));
            }
            self.i += 12;
            let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return char::from_u32(c).ok_or_else(|| self.err("invalid \\u escape"));
        }
        if (0xDC00..0xE000).contains(&first) {
            return Err(self.err("lone trailing surrogate in a \\u escape"));
        }
        self.i += 6;
        char::from_u32(first).ok_or_else(|| self.err("invalid \\u escape"))
    }
}

#[cfg(test)]
mod tests;
