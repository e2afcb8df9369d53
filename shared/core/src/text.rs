//! Text cleaning and tokenisation: the one place where raw text becomes tokens.
//!
//! The same [`CleanConfig`] is stored in every model artifact and applied, unchanged, at training and at
//! prediction time. Cleaning runs these steps, in this order, each one switchable:
//!
//! 1. **Unicode NFKC** normalisation (`ｆｕｌｌ` → `full`, `ﬁ` → `fi`), skipped for pure-ASCII text.
//! 2. **HTML**: tags (`<br/>`, `<b>`) become a space, then entities (`&amp;`, `&#39;`, `&#x27;`, `&nbsp;`…)
//!    are decoded.
//! 3. **URLs** (`http://…`, `https://…`, `www.…`, up to the next whitespace) become the token `URL_TOKEN`.
//! 4. **@mentions** (`@` + letters, digits or `_`, at a word start) become the token `USER_TOKEN`.
//! 5. **Case folding** (Unicode lower case).
//! 6. **Whitespace**: runs of whitespace become one space; leading and trailing space is dropped.
//!
//! Tokenisation follows scikit-learn's `token_pattern`: a token is a maximal run of word characters
//! (alphanumeric or `_`) at least `min_chars` long (2 is scikit-learn's default `(?u)\b\w\w+\b`, 1 is
//! `(?u)\b\w+\b`); everything else separates tokens.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Token that replaces every URL when [`CleanConfig::urls`] is on.
pub(crate) const URL_TOKEN: &str = "xxurl";
/// Token that replaces every @mention when [`CleanConfig::mentions`] is on.
pub(crate) const USER_TOKEN: &str = "xxuser";

/// Which cleaning steps run. Stored in the model artifact so prediction cleans exactly like training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanConfig {
    /// Unicode NFKC normalisation.
    pub unicode_nfkc: bool,
    /// Strip HTML tags and decode HTML entities.
    pub html: bool,
    /// Replace URLs with `URL_TOKEN`.
    pub urls: bool,
    /// Replace @mentions with `USER_TOKEN`.
    pub mentions: bool,
    /// Lower-case the text.
    pub lowercase: bool,
    /// Collapse whitespace runs and trim.
    pub whitespace: bool,
}

impl Default for CleanConfig {
    /// Every step on.
    fn default() -> Self {
        Self {
            unicode_nfkc: true,
            html: true,
            urls: true,
            mentions: true,
            lowercase: true,
            whitespace: true,
        }
    }
}

impl CleanConfig {
    /// Only lower-casing: what scikit-learn's `TfidfVectorizer()` does before tokenising (used for parity).
    pub fn lowercase_only() -> Self {
        Self {
            unicode_nfkc: false,
            html: false,
            urls: false,
            mentions: false,
            lowercase: true,
            whitespace: false,
        }
    }
}

/// True when `text` has nothing to classify: only whitespace, as JSON Schema's (ECMAScript's) `\s` defines
/// it, so that the OpenAPI pattern `\S` accepts exactly the texts this accepts. The server answers a blank
/// text with 422 `empty_text` and `polarity predict` with an `empty_text` error line (the one rule).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

/// Cleans `text` with `cfg` into a new string. See the module docs for the steps.
pub fn clean(text: &str, cfg: &CleanConfig) -> String {
    let mut out = String::with_capacity(text.len());
    clean_into(text, cfg, &mut out);
    out
}

/// Replaces `text` by its cleaned form ([`clean`]), keeping its allocation when the result fits (a cleaned
/// text is rarely longer): `scratch` holds the result in between.
pub fn clean_in_place(text: &mut String, cfg: &CleanConfig, scratch: &mut String) {
    clean_into(text, cfg, scratch);
    text.clear();
    text.push_str(scratch);
}

/// Cleans `text` with `cfg` into `out` (cleared first), reusing its allocation: the hot-path form of [`clean`].
pub(crate) fn clean_into(text: &str, cfg: &CleanConfig, out: &mut String) {
    out.clear();
    let b = text.as_bytes();
    let f = scan(b);
    if !f.non_ascii {
        let markup = (cfg.html && f.html)
            || (cfg.mentions && f.at)
            || (cfg.urls && (f.www || (f.colon && contains_http(b))));
        if !markup {
            // Plain ASCII: the markup, URL and mention steps would change nothing, NFKC is the identity.
            let tidy = !cfg.whitespace
                || !(f.space_run
                    || f.other_space
                    || b.first() == Some(&b' ')
                    || b.last() == Some(&b' '));
            ascii_fold(text, cfg, tidy, out);
            return;
        }
    }
    clean_general(text, cfg, out);
}

/// Every step, in order, on any text: the reference that the ASCII fast path of [`clean_into`] must equal.
fn clean_general(text: &str, cfg: &CleanConfig, out: &mut String) {
    let mut cur: String = if cfg.unicode_nfkc && !text.is_ascii() {
        text.nfkc().collect()
    } else {
        text.to_owned()
    };
    if cfg.html {
        cur = decode_entities(&strip_tags(&cur));
    }
    if cfg.urls || cfg.mentions {
        cur = replace_urls_mentions(&cur, cfg);
    }
    if cfg.lowercase {
        cur = cur.to_lowercase();
    }
    if cfg.whitespace {
        let mut first = true;
        for word in cur.split_whitespace() {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
    } else {
        out.push_str(&cur);
    }
}

/// What one pass over a text's bytes found (see [`scan`]).
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    non_ascii: bool,
    /// `<` or `&`.
    html: bool,
    /// `@`.
    at: bool,
    /// `:` (an `http://` or `https://` URL has one).
    colon: bool,
    /// `www.`, any case.
    www: bool,
    /// Two spaces in a row.
    space_run: bool,
    /// ASCII whitespace other than the space (`\t \n \x0b \x0c \r`).
    other_space: bool,
}

/// Branch-free passes over the bytes that tell whether a text needs more than lower-casing.
fn scan(b: &[u8]) -> Scan {
    let (mut hi, mut html, mut at, mut colon) = (0u8, false, false, false);
    let (mut www, mut run, mut other) = (false, false, false);
    for &c in b {
        hi |= c;
        html |= (c == b'<') | (c == b'&');
        at |= c == b'@';
        colon |= c == b':';
        other |= c.wrapping_sub(9) < 5;
    }
    for w in b.windows(2) {
        run |= (w[0] == b' ') & (w[1] == b' ');
    }
    for w in b.windows(4) {
        www |= (w[3] == b'.')
            & ((w[0] | 0x20) == b'w')
            & ((w[1] | 0x20) == b'w')
            & ((w[2] | 0x20) == b'w');
    }
    Scan {
        non_ascii: hi >= 0x80,
        html,
        at,
        colon,
        www,
        space_run: run,
        other_space: other,
    }
}

/// True when `http` (any case) occurs in `b`: only then can a `:` start a URL.
fn contains_http(b: &[u8]) -> bool {
    b.windows(4).any(|w| w.eq_ignore_ascii_case(b"http"))
}

/// Plain ASCII text: lower-case and, unless `tidy`, whitespace runs to one space (the common case, kept cheap).
fn ascii_fold(text: &str, cfg: &CleanConfig, tidy: bool, out: &mut String) {
    if tidy {
        out.push_str(text);
    } else {
        // `split_whitespace`, not `split_ascii_whitespace`: the general path also splits on `\x0b`.
        for (i, word) in text.split_whitespace().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    if cfg.lowercase {
        out.make_ascii_lowercase();
    }
}

/// Replaces every `<…>` tag that starts with a letter, `/` or `!` by a space. A lone `<` stays.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>') {
            Some(j) if opens_tag => {
                out.push(' ');
                rest = &after[j + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the common named entities and every numeric one; an unknown entity stays as written.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let decoded = after
            .find(';')
            .filter(|&j| j <= 10)
            .and_then(|j| entity(&after[..j]).map(|c| (c, j)));
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &after[j + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        _ => return None,
    })
}

/// Replaces URLs and @mentions with their placeholder tokens (surrounded by spaces).
fn replace_urls_mentions(s: &str, cfg: &CleanConfig) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_is_word = false;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let at_word_start = !prev_is_word;
        if cfg.urls && at_word_start && starts_url(rest) {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(' ');
            out.push_str(URL_TOKEN);
            out.push(' ');
            i += end;
            prev_is_word = false;
            continue;
        }
        if cfg.mentions && at_word_start && rest.starts_with('@') {
            let name_len: usize = rest[1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .map(char::len_utf8)
                .sum();
            if name_len > 0 {
                out.push(' ');
                out.push_str(USER_TOKEN);
                out.push(' ');
                i += 1 + name_len;
                prev_is_word = false;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        prev_is_word = is_word_char(c);
        i += c.len_utf8();
    }
    out
}

fn starts_url(s: &str) -> bool {
    let b = s.as_bytes();
    let pre = |p: &[u8]| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    pre(b"http://") || pre(b"https://") || pre(b"www.")
}

/// A word character for tokenisation: Unicode alphanumeric or `_` (Python's `\w`).
#[inline]
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Calls `f` with every token of `text` (maximal runs of word characters at least `min_chars` characters
/// long), in order. `min_chars = 2` is scikit-learn's default `(?u)\b\w\w+\b`; `1` is `(?u)\b\w+\b`.
/// Allocation-free.
#[inline]
pub(crate) fn for_each_token<'a>(text: &'a str, min_chars: usize, mut f: impl FnMut(&'a str)) {
    let b = text.as_bytes();
    if text.is_ascii() {
        let mut start = 0;
        let mut i = 0;
        while i <= b.len() {
            let w = i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_');
            if !w {
                if i > start && i - start >= min_chars {
                    f(&text[start..i]);
                }
                start = i + 1;
            }
            i += 1;
        }
        return;
    }
    let mut start: Option<usize> = None;
    let mut chars = 0usize;
    for (i, c) in text.char_indices() {
        if is_word_char(c) {
            if start.is_none() {
                start = Some(i);
                chars = 0;
            }
            chars += 1;
        } else if let Some(s) = start.take()
            && chars >= min_chars
        {
            f(&text[s..i]);
        }
    }
    if let Some(s) = start
        && chars >= min_chars
    {
        f(&text[s..]);
    }
}

/// Tokens of `text` (at least `min_chars` characters) as a vector: convenience over `for_each_token`.
pub fn tokens(text: &str, min_chars: usize) -> Vec<&str> {
    let mut v = Vec::new();
    for_each_token(text, min_chars, |t| v.push(t));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        clean(s, &CleanConfig::default())
    }

    #[test]
    fn ascii_fast_path_equals_the_general_path() {
        // Random ASCII texts over an alphabet dense in the bytes the fast path's scan looks for.
        let alphabet = b" \t\n\x0b\x0c\r  aAhHtTpPwW.:/@<>&;#x_09zZ!";
        let cfgs = [
            CleanConfig::default(),
            CleanConfig::lowercase_only(),
            CleanConfig {
                html: false,
                ..Default::default()
            },
            CleanConfig {
                urls: false,
                mentions: false,
                ..Default::default()
            },
            CleanConfig {
                whitespace: false,
                lowercase: false,
                ..Default::default()
            },
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fast_taken = 0;
        let (mut fast, mut general) = (String::new(), String::new());
        for i in 0..200_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            let text = match i % 7 {
                0 => format!("see http://x.io/{text}"),
                1 => format!("{text} WWW.site.com"),
                _ => text,
            };
            let cfg = &cfgs[i % cfgs.len()];
            clean_into(&text, cfg, &mut fast);
            general.clear();
            clean_general(&text, cfg, &mut general);
            assert_eq!(fast, general, "{text:?} with {cfg:?}");
            let f = scan(text.as_bytes());
            fast_taken += usize::from(!(f.html || f.at || f.www || f.colon));
        }
        assert!(
            fast_taken > 10_000,
            "the fast path was hardly exercised: {fast_taken}"
        );
    }

    #[test]
    fn scan_finds_what_the_fast_path_must_not_skip() {
        let f = scan(b"Go to WwW.example.com now");
        assert!(f.www && !f.colon && !f.non_ascii);
        let f = scan(b"a  b\tc");
        assert!(f.space_run && f.other_space);
        let f = scan("caf\u{e9} <b> & @me:".as_bytes());
        assert!(f.non_ascii && f.html && f.at && f.colon);
        assert!(contains_http(b"xHtTpS") && !contains_http(b"htt p"));
    }

    #[test]
    fn lowercases_and_collapses_whitespace() {
        assert_eq!(c("  Hello   WORLD\t\n ok "), "hello world ok");
        assert_eq!(c("Crème  BRÛLÉE"), "crème brûlée");
        assert_eq!(c("a\tb\r\nc "), "a b c");
        assert_eq!(c(" Lead"), "lead");
        assert_eq!(
            c("HTTP is a protocol, www is not a url"),
            "http is a protocol, www is not a url"
        );
    }

    #[test]
    fn html_tags_and_entities() {
        assert_eq!(c("great<br/>movie &amp; cast"), "great movie & cast");
        assert_eq!(c("it&#39;s &quot;fine&quot; &#x41;"), "it's \"fine\" a");
        assert_eq!(c("a < b and c&d; x"), "a < b and c&d; x");
        assert_eq!(c("<p>Loved it</p>"), "loved it");
    }

    #[test]
    fn urls_and_mentions_become_tokens() {
        assert_eq!(c("see https://x.io/a?b=1 now"), "see xxurl now");
        assert_eq!(c("WWW.example.com rocks"), "xxurl rocks");
        assert_eq!(
            c("@Bob_1 thanks, mail me@home"),
            "xxuser thanks, mail me@home"
        );
        assert_eq!(c("ping @ you"), "ping @ you");
    }

    #[test]
    fn nfkc_normalises_compatibility_forms() {
        assert_eq!(c("ｆｕｌｌ ﬁne"), "full fine");
    }

    #[test]
    fn steps_can_be_switched_off() {
        let cfg = CleanConfig::lowercase_only();
        assert_eq!(clean("A  <b>B</b> @x", &cfg), "a  <b>b</b> @x");
    }

    #[test]
    fn tokens_follow_sklearn_pattern() {
        assert_eq!(
            tokens("it's a fine, fine day_1 x", 2),
            vec!["it", "fine", "fine", "day_1"]
        );
        assert_eq!(tokens("naïve café ok é", 2), vec!["naïve", "café", "ok"]);
        assert_eq!(tokens("", 2), Vec::<&str>::new());
        assert_eq!(tokens("ab", 2), vec!["ab"]);
        assert_eq!(
            tokens("it's a fine, x", 1),
            vec!["it", "s", "a", "fine", "x"]
        );
        assert_eq!(tokens("é ok", 1), vec!["é", "ok"]);
    }

    #[test]
    fn clean_into_reuses_buffer_and_matches_clean() {
        let mut buf = String::from("old");
        for s in ["Plain TEXT", "<i>x</i> &amp; @y http://z", "ÀB  c"] {
            clean_into(s, &CleanConfig::default(), &mut buf);
            assert_eq!(buf, c(s));
        }
    }
}
