//! How strings become searchable terms. The index and the in-memory evaluator both call these
//! functions, so they cannot disagree on what a word or a keyword is.

/// Words longer than this many bytes are not indexed (they still take a position).
pub const MAX_WORD_BYTES: usize = 40;

/// A phrase spans at most this many word positions (first to last, skipped long words
/// included). The index relies on it to keep phrases from spanning two strings.
pub const MAX_PHRASE_SPAN: u32 = 32;

/// Keyword values longer than this many bytes are not indexed as keywords: they cannot be
/// matched by `field:value`, only found by free text.
pub const MAX_KEYWORD_BYTES: usize = 2048;

/// Splits free text into lowercase words: runs of alphanumeric characters. Calls `f` with each
/// word and its position; a word over [`MAX_WORD_BYTES`] is skipped but keeps its position, so
/// phrases cannot jump over it.
pub fn for_each_word(text: &str, mut f: impl FnMut(u32, &str)) {
    if text.is_ascii() {
        return for_each_ascii_word(text.as_bytes(), f);
    }
    let mut lower = String::new();
    let words = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
    for (position, word) in (0u32..).zip(words) {
        if word.len() <= MAX_WORD_BYTES {
            lower.clear();
            if word.is_ascii() {
                lower.push_str(word);
                lower.make_ascii_lowercase();
            } else {
                lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            f(position, &lower);
        }
    }
}

/// [`for_each_word`] for ASCII text, a byte at a time (the same words: an ASCII character is
/// alphanumeric exactly when its byte is).
fn for_each_ascii_word(text: &[u8], mut f: impl FnMut(u32, &str)) {
    let mut lower = [0u8; MAX_WORD_BYTES];
    let mut position = 0u32;
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && text[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let word = &text[start..i];
        if word.len() <= MAX_WORD_BYTES {
            let lower = &mut lower[..word.len()];
            lower.copy_from_slice(word);
            lower.make_ascii_lowercase();
            f(position, std::str::from_utf8(lower).expect("ASCII"));
        }
        position += 1;
    }
}

/// The words of `text` with their positions.
pub fn words(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for_each_word(text, |pos, w| out.push((pos, w.to_owned())));
    out
}

/// The term a keyword value is indexed and matched as: the whole value, lowercased; `None`
/// when the value is empty or longer than [`MAX_KEYWORD_BYTES`].
pub fn keyword(value: &str) -> Option<String> {
    if value.is_empty() || value.len() > MAX_KEYWORD_BYTES {
        return None;
    }
    Some(if value.is_ascii() {
        value.to_ascii_lowercase()
    } else {
        value.chars().flat_map(char::to_lowercase).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_punctuation_and_lowercase() {
        assert_eq!(
            words("Alice called iam:CreateAccessKey for bob-2"),
            vec![
                (0, "alice".into()),
                (1, "called".into()),
                (2, "iam".into()),
                (3, "createaccesskey".into()),
                (4, "for".into()),
                (5, "bob".into()),
                (6, "2".into()),
            ]
        );
    }

    #[test]
    fn ascii_and_unicode_paths_split_alike() {
        for text in ["a-b  c", "--x9_Y--", "", "-", "AB12cd ef", "tab\there\nnew"] {
            let ascii = words(text);
            // The same text with one non-ASCII separator appended takes the char path.
            let unicode = words(&format!("{text}\u{00a0}"));
            assert_eq!(ascii, unicode, "{text:?}");
        }
        assert_eq!(words("a-b  c"), vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    }

    #[test]
    fn long_words_keep_their_position() {
        let long = "x".repeat(41);
        assert_eq!(words(&format!("a {long} b")), vec![(0, "a".into()), (2, "b".into())]);
    }

    #[test]
    fn keywords_are_lowercase_and_bounded() {
        assert_eq!(keyword("IAMUser").as_deref(), Some("iamuser"));
        assert_eq!(keyword(""), None);
        assert_eq!(keyword(&"a".repeat(MAX_KEYWORD_BYTES + 1)), None);
        assert_eq!(keyword("ÉTÉ").as_deref(), Some("été"));
    }
}
