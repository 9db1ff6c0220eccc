//! The query parser: from the text a user types to a [`Query`]. This file holds the boolean
//! structure and free text; `value.rs` reads what follows `field:`.

mod suggest;
mod value;

use crate::ast::{FieldRef, GlobToken, Query, TextQuery};
use crate::fields::KnownField;
use crate::text::words;

/// Why a query could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based character (not byte) column of the offending token.
    pub column: usize,
    /// Lowercase, no trailing period, naming the offending token.
    pub message: String,
}

type Result<T, E = ParseError> = std::result::Result<T, E>;

/// Parentheses and negations nested deeper than this are refused rather than risking the stack.
const MAX_DEPTH: usize = 100;

/// Parses a query. Relative times (`now-1h`) count from `now_ms`. An empty query, or `*`,
/// matches every event.
pub fn parse(input: &str, now_ms: i64) -> Result<Query> {
    let mut p = Parser { chars: input.chars().collect(), pos: 0, now_ms, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Ok(Query::All);
    }
    let query = p.or_expr(None)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(query),
        // `or_expr` stops only at the end or at a `)`.
        Some(_) => p.fail(p.pos, "unexpected ) without a matching ("),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    now_ms: i64,
    depth: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
}

impl Keyword {
    fn text(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
        }
    }
}

/// One character of a bare value: escaped characters are always literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Star,
    Question,
}

fn has_wildcard(pieces: &[Piece]) -> bool {
    pieces.iter().any(|p| !matches!(p, Piece::Char(_)))
}

/// The text of pieces with no wildcard in them (wildcards are written back as `*` and `?`).
fn literal(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Char(c) => *c,
            Piece::Star => '*',
            Piece::Question => '?',
        })
        .collect()
}

/// Lowercases the way [`crate::text::keyword`] does, keeping values of any length.
fn lowercase(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars().flat_map(char::to_lowercase).collect()
    }
}

/// A glob with lowercase literals; runs of `*` collapse to one.
pub(crate) fn too_long_message() -> String {
    format!(
        "wildcard pattern too long (at most {} characters and {} wildcards)",
        crate::ast::MAX_WILDCARD_CHARS,
        crate::ast::MAX_WILDCARDS
    )
}

fn glob(pieces: &[Piece]) -> Vec<GlobToken> {
    let mut out = Vec::new();
    let mut lit = String::new();
    for p in pieces {
        match p {
            Piece::Char(c) => lit.extend(c.to_lowercase()),
            Piece::Star | Piece::Question => {
                if !lit.is_empty() {
                    out.push(GlobToken::Literal(std::mem::take(&mut lit)));
                }
                if *p == Piece::Question {
                    out.push(GlobToken::AnyChar);
                } else if out.last() != Some(&GlobToken::AnyRun) {
                    out.push(GlobToken::AnyRun);
                }
            }
        }
    }
    if !lit.is_empty() {
        out.push(GlobToken::Literal(lit));
    }
    out
}

/// Joins parts with `And` or `Or`, flattening nested parts of the same kind.
fn join(parts: Vec<Query>, and: bool) -> Query {
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part");
    }
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match (part, and) {
            (Query::And(inner), true) | (Query::Or(inner), false) => flat.extend(inner),
            (other, _) => flat.push(other),
        }
    }
    if and {
        Query::And(flat)
    } else {
        Query::Or(flat)
    }
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    /// At the end, or at a `)` closing a group: no term can start here.
    fn at_close(&self) -> bool {
        matches!(self.peek(), None | Some(')'))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, at: usize, message: impl Into<String>) -> Result<T> {
        Err(ParseError { column: at + 1, message: message.into() })
    }

    /// The whitespace-delimited token at `at`, for messages.
    fn token_at(&self, at: usize) -> String {
        let token: String =
            self.chars[at.min(self.chars.len())..].iter().take_while(|c| !c.is_whitespace()).collect();
        if token.chars().count() > 40 {
            format!("{}…", token.chars().take(40).collect::<String>())
        } else {
            token
        }
    }

    /// The keyword at the cursor: `AND`, `OR` or `NOT` as a whole word.
    fn keyword(&self) -> Option<Keyword> {
        [Keyword::And, Keyword::Or, Keyword::Not].into_iter().find(|k| {
            let text = k.text();
            let end = self.pos + text.len();
            end <= self.chars.len()
                && self.chars[self.pos..end].iter().copied().eq(text.chars())
                && self.chars.get(end).is_none_or(|c| c.is_whitespace() || "()\"".contains(*c))
        })
    }

    /// Runs `f` one nesting level deeper.
    fn nested<T>(&mut self, at: usize, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return self.fail(at, format!("query nests deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    /// `a OR b OR c`. Inside a value group (`service:(iam OR sts)`), `field` binds bare terms.
    fn or_expr(&mut self, field: Option<&FieldRef>) -> Result<Query> {
        let mut parts = vec![self.and_expr(field)?];
        loop {
            self.skip_ws();
            if self.keyword() != Some(Keyword::Or) {
                return Ok(join(parts, false));
            }
            let at = self.pos;
            self.pos += 2;
            self.skip_ws();
            if self.at_close() {
                return self.fail(at, "dangling OR");
            }
            parts.push(self.and_expr(field)?);
        }
    }

    /// `a AND b c`: explicit or implicit AND.
    fn and_expr(&mut self, field: Option<&FieldRef>) -> Result<Query> {
        let mut parts = vec![self.unary(field)?];
        loop {
            self.skip_ws();
            if self.at_close() {
                break;
            }
            match self.keyword() {
                Some(Keyword::Or) => break,
                Some(Keyword::And) => {
                    let at = self.pos;
                    self.pos += 3;
                    self.skip_ws();
                    if self.at_close() {
                        return self.fail(at, "dangling AND");
                    }
                }
                _ => {}
            }
            parts.push(self.unary(field)?);
        }
        Ok(join(parts, true))
    }

    /// `NOT a`, `-a` or a primary term.
    fn unary(&mut self, field: Option<&FieldRef>) -> Result<Query> {
        self.skip_ws();
        let at = self.pos;
        if self.keyword() == Some(Keyword::Not) {
            self.pos += 3;
            self.skip_ws();
            if self.at_close() {
                return self.fail(at, "dangling NOT");
            }
        } else if self.peek() == Some('-') {
            self.pos += 1;
            if self.at_close() || self.peek().is_some_and(char::is_whitespace) {
                return self.fail(at, "dangling -");
            }
        } else {
            return self.primary(field);
        }
        let inner = self.nested(at, |p| p.unary(field))?;
        Ok(Query::Not(Box::new(inner)))
    }

    /// A parenthesized group, a `field:value` condition, or free text.
    fn primary(&mut self, field: Option<&FieldRef>) -> Result<Query> {
        self.skip_ws();
        let at = self.pos;
        match self.peek() {
            None => return self.fail(at, "expected a term at the end of the query"),
            Some(')') => return self.fail(at, "unexpected ) without a matching ("),
            Some('(') => {
                self.pos += 1;
                return self.group(at, field);
            }
            _ => {}
        }
        if let Some(k) = self.keyword() {
            return self.fail(at, format!("dangling {}", k.text()));
        }
        match field {
            Some(field) => self.value(field),
            None => self.term(),
        }
    }

    /// The inside of `( … )`; the cursor is past the `(` at `open`.
    fn group(&mut self, open: usize, field: Option<&FieldRef>) -> Result<Query> {
        self.nested(open, |p| {
            p.skip_ws();
            match p.peek() {
                None => return p.fail(open, "unclosed ("),
                Some(')') => return p.fail(open, "empty parentheses"),
                _ => {}
            }
            let query = p.or_expr(field)?;
            p.skip_ws();
            if p.peek() != Some(')') {
                return p.fail(open, "unclosed (");
            }
            p.pos += 1;
            Ok(query)
        })
    }

    /// Outside value groups: `field:value`, `@path:value`, `"a phrase"` or a bare word.
    fn term(&mut self) -> Result<Query> {
        let at = self.pos;
        if self.peek() == Some('"') {
            let text = self.quoted()?;
            return self.phrase(&format!("\"{text}\""), &text, at);
        }
        if self.peek() == Some('@') {
            let start = self.pos + 1;
            let mut end = start;
            while self.chars.get(end).is_some_and(|c| !c.is_whitespace() && !":()\"".contains(*c)) {
                end += 1;
            }
            let path: String = self.chars[start..end].iter().collect();
            if self.chars.get(end) != Some(&':') {
                return self.fail(at, format!("expected : after field @{path}"));
            }
            if path.is_empty() {
                return self.fail(at, "empty field path after @");
            }
            self.pos = end + 1;
            return self.field_value(FieldRef::Raw(path));
        }
        if let Some(end) = self.field_name_end() {
            let name: String = self.chars[self.pos..end].iter().collect();
            let Some(known) = KnownField::from_name(&name) else {
                return self.fail(at, suggest::unknown_field(&name));
            };
            self.pos = end + 1;
            return self.field_value(FieldRef::Known(known));
        }
        let pieces = self.bare(&[')'])?;
        self.text(&pieces, at)
    }

    /// Where a field name followed by `:` ends, if the cursor is at one.
    fn field_name_end(&self) -> Option<usize> {
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let mut end = self.pos + 1;
        while self.chars.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || "_.".contains(*c)) {
            end += 1;
        }
        (self.chars.get(end) == Some(&':')).then_some(end)
    }

    /// A bare word of free text: `*` (everything), a word with wildcards, or a phrase.
    fn text(&self, pieces: &[Piece], at: usize) -> Result<Query> {
        if pieces == [Piece::Star] {
            return Ok(Query::All);
        }
        if has_wildcard(pieces) {
            if pieces.iter().any(|p| matches!(p, Piece::Char(c) if !c.is_alphanumeric())) {
                return self.fail(
                    at,
                    format!(
                        "a wildcard in free text must stay within one word of letters and digits: {}",
                        self.token_at(at)
                    ),
                );
            }
            let g = glob(pieces);
            if crate::ast::glob_too_long(&g) {
                return self.fail(at, too_long_message());
            }
            return Ok(Query::Text(TextQuery::Wildcard(g)));
        }
        self.phrase(&self.token_at(at), &literal(pieces), at)
    }

    fn phrase(&self, shown: &str, text: &str, at: usize) -> Result<Query> {
        let words = words(text);
        if words.is_empty() {
            return self.fail(at, format!("no searchable word in {shown}"));
        }
        if words[words.len() - 1].0 - words[0].0 >= crate::text::MAX_PHRASE_SPAN {
            return self.fail(
                at,
                format!("phrase too long: at most {} words in {shown}", crate::text::MAX_PHRASE_SPAN),
            );
        }
        Ok(Query::Text(TextQuery::Phrase(words)))
    }

    /// A bare value up to whitespace or an unescaped character of `stops`. A backslash makes
    /// the next character literal.
    fn bare(&mut self, stops: &[char]) -> Result<Vec<Piece>> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || stops.contains(&c) {
                break;
            }
            self.pos += 1;
            out.push(match c {
                '\\' => match self.peek() {
                    Some(next) => {
                        self.pos += 1;
                        Piece::Char(next)
                    }
                    None => return self.fail(self.pos - 1, "dangling \\ at the end of the query"),
                },
                '*' => Piece::Star,
                '?' => Piece::Question,
                c => Piece::Char(c),
            });
        }
        Ok(out)
    }

    /// A `"quoted string"` at the cursor; `\"` and `\\` are escapes, other backslashes literal.
    fn quoted(&mut self) -> Result<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.fail(open, "unclosed quote"),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') if matches!(self.chars.get(self.pos + 1), Some('"' | '\\')) => {
                    out.push(self.chars[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
