//! Tantivy tokenizers that call the query crate's own word and keyword functions, so the index
//! and the in-memory evaluator cut text the same way by construction.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use trailwatch_query::text;

/// Name of the free-text tokenizer (words, lowercase, with positions).
pub const WORDS: &str = "tw_words";
/// Name of the keyword tokenizer (the whole value, lowercase).
pub const KEYWORD: &str = "tw_keyword";

/// Positions between the end of one string and the start of the next in the text field: more
/// than any phrase can span (the parser caps phrases at `MAX_PHRASE_SPAN`), and small, since
/// larger positions cost index space.
const VALUE_GAP: usize = text::MAX_PHRASE_SPAN as usize + 8;

/// Splits text into words with [`text::for_each_word`].
#[derive(Clone, Default)]
pub struct WordsTokenizer {
    tokens: Vec<Token>,
}

/// Emits the whole value as one lowercase token, per [`text::keyword`].
#[derive(Clone, Default)]
pub struct KeywordTokenizer {
    tokens: Vec<Token>,
}

/// A stream over tokens prepared in advance.
pub struct PreparedStream<'a> {
    tokens: &'a mut Vec<Token>,
    len: usize,
    next: usize,
}

impl Tokenizer for WordsTokenizer {
    type TokenStream<'a> = PreparedStream<'a>;

    fn token_stream<'a>(&'a mut self, input: &'a str) -> PreparedStream<'a> {
        let mut len = 0;
        let tokens = &mut self.tokens;
        text::for_each_word(input, |position, word| {
            push(tokens, &mut len, position as usize, word);
        });
        // Tantivy starts a field's next value one position after the end of this one. A long
        // last token pushes that end out, so a phrase can never span two strings, even one with
        // gaps for words too long to index (the evaluator matches within one string).
        if len > 0 {
            tokens[len - 1].position_length = VALUE_GAP;
        }
        PreparedStream { tokens, len, next: 0 }
    }
}

impl Tokenizer for KeywordTokenizer {
    type TokenStream<'a> = PreparedStream<'a>;

    fn token_stream<'a>(&'a mut self, input: &'a str) -> PreparedStream<'a> {
        let mut len = 0;
        if let Some(k) = text::keyword(input) {
            push(&mut self.tokens, &mut len, 0, &k);
        }
        PreparedStream { tokens: &mut self.tokens, len, next: 0 }
    }
}

/// Writes a token into slot `len`, reusing the slot's allocation.
fn push(tokens: &mut Vec<Token>, len: &mut usize, position: usize, text: &str) {
    if *len == tokens.len() {
        tokens.push(Token::default());
    }
    let t = &mut tokens[*len];
    t.position = position;
    t.position_length = 1;
    t.offset_from = 0;
    t.offset_to = text.len();
    t.text.clear();
    t.text.push_str(text);
    *len += 1;
}

impl TokenStream for PreparedStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.len {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Registers both tokenizers on an index.
pub fn register(index: &tantivy::Index) {
    index.tokenizers().register(WORDS, WordsTokenizer::default());
    index.tokenizers().register(KEYWORD, KeywordTokenizer::default());
}
