//! A strict JSON reader that validates text and walks object members
//! without building values.
//!
//! Why not serde_json here: deserialization is the largest part of the wasm
//! build (its error paths link float printing, ~20 KB), and the core only
//! reads two things — v1 per-event results and JSON object text handed over
//! by adapters that already have it serialized (`JSON.stringify`). Encoding
//! still goes through serde_json.

/// How deep arrays and objects may nest before the text is refused (the
/// reader recurses once per level).
const MAX_DEPTH: u32 = 128;

/// A cursor over JSON text. Every method returns `None` on invalid JSON.
pub(crate) struct JsonReader<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        JsonReader { text, at: 0 }
    }

    /// Whether `text` is exactly one valid JSON value (RFC 8259).
    pub(crate) fn is_valid(text: &str) -> bool {
        let mut r = JsonReader::new(text.as_bytes());
        r.value(0).is_some() && r.end().is_some()
    }

    /// Only whitespace is left.
    pub(crate) fn end(&mut self) -> Option<()> {
        self.space();
        (self.at == self.text.len()).then_some(())
    }

    /// Walks an object, calling `member` with each raw key (escapes kept)
    /// while the reader sits at the member's value. `member` must consume
    /// the value (for instance with [`JsonReader::skip`]).
    pub(crate) fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&'a [u8], &mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.space();
            let key = self.string()?;
            self.expect(b':')?;
            member(key, self)?;
            if self.eat(b'}') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Whether an object starts here (after whitespace).
    pub(crate) fn at_object(&mut self) -> bool {
        self.space();
        self.text.get(self.at) == Some(&b'{')
    }

    /// Whether an array starts here (after whitespace).
    pub(crate) fn at_array(&mut self) -> bool {
        self.space();
        self.text.get(self.at) == Some(&b'[')
    }

    /// Whether a string starts here (after whitespace).
    pub(crate) fn at_string(&mut self) -> bool {
        self.space();
        self.text.get(self.at) == Some(&b'"')
    }

    /// A string's raw contents (between the quotes, escapes kept).
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match *self.text.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(&self.text[start..self.at - 1]);
                }
                b'\\' => {
                    self.at += 1;
                    match *self.text.get(self.at)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            let unit = self.hex4(self.at + 1)?;
                            self.at += 5;
                            // UTF-16 halves must pair up, as serde_json (and
                            // so PostHog's capture) insists: a lone half is
                            // what JSON.stringify makes of an emoji cut in two.
                            if (0xDC00..0xE000).contains(&unit) {
                                return None;
                            }
                            if (0xD800..0xDC00).contains(&unit) {
                                if self.text.get(self.at..self.at + 2)? != b"\\u" {
                                    return None;
                                }
                                let low = self.hex4(self.at + 2)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                self.at += 6;
                            }
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// Skips one value of any kind, checking it.
    pub(crate) fn skip(&mut self, depth: u32) -> Option<()> {
        self.value(depth)
    }

    /// Checks one value of any kind and returns its text.
    pub(crate) fn raw_value(&mut self, depth: u32) -> Option<&'a [u8]> {
        self.space();
        let start = self.at;
        self.value(depth)?;
        Some(&self.text[start..self.at])
    }

    /// Walks an array, calling `item` with the reader at each item (which
    /// `item` must consume).
    pub(crate) fn array_items(
        &mut self,
        depth: u32,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        if self.eat(b']') {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(b']') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    fn value(&mut self, depth: u32) -> Option<()> {
        self.space();
        match *self.text.get(self.at)? {
            b'{' => self.object(depth + 1, |_, r| r.value(depth + 1)),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(drop),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number(),
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        self.array_items(depth, |r| r.value(depth))
    }

    /// The four hex digits at `at`, as a UTF-16 code unit.
    fn hex4(&self, at: usize) -> Option<u32> {
        let hex = self.text.get(at..at + 4)?;
        hex.iter().try_fold(0u32, |n, &b| {
            let digit = (b as char).to_digit(16)?;
            Some(n * 16 + digit)
        })
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, within the
    /// range of an f64 (serde_json refuses the rest as out of range).
    fn number(&mut self) -> Option<()> {
        self.eat_byte(b'-');
        let int_start = self.at;
        if !self.eat_byte(b'0') {
            self.digits()?;
        }
        let int = &self.text[int_start..self.at];
        let mut frac: &[u8] = &[];
        if self.eat_byte(b'.') {
            let start = self.at;
            self.digits()?;
            frac = &self.text[start..self.at];
        }
        let mut exp = 0i64;
        if self.eat_byte(b'e') || self.eat_byte(b'E') {
            let negative = !self.eat_byte(b'+') && self.eat_byte(b'-');
            let start = self.at;
            self.digits()?;
            for &d in &self.text[start..self.at] {
                exp = (exp * 10 + i64::from(d - b'0')).min(1 << 40);
            }
            if negative {
                exp = -exp;
            }
        }
        finite(int, frac, exp).then_some(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }

    fn space(&mut self) {
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// After whitespace, `byte` follows (and is consumed).
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        self.eat_byte(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn eat_byte(&mut self, byte: u8) -> bool {
        let hit = self.text.get(self.at) == Some(&byte);
        self.at += usize::from(hit);
        hit
    }
}

/// How deep one encoded event may nest: serde_json-based servers (PostHog's
/// capture among them) read 127 levels, and a body's envelope takes two
/// (`{"batch":[`) before the event's own object.
pub(crate) const MAX_EVENT_DEPTH: usize = 125;

/// Whether `json` (valid JSON text) nests no deeper than `max` levels.
pub(crate) fn nesting_within(json: &[u8], max: usize) -> bool {
    // Fewer openers than the limit cannot nest deeper (strings included:
    // an upper bound, counted fast).
    // `{` and `[` differ only in bit 0x20; byte-wide sums per chunk
    // vectorize (a 64-bit count per byte did not).
    let openers: usize = json
        .chunks(255)
        .map(|chunk| {
            let n = chunk
                .iter()
                .fold(0u8, |n, &b| n + u8::from(b | 0x20 == b'{'));
            usize::from(n)
        })
        .sum();
    if openers <= max {
        return true;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Whether `int.frac e exp` is below the largest number serde_json reads
/// (1.7976931348623158e308 and above are refused; tiny ones become 0).
fn finite(int: &[u8], frac: &[u8], exp: i64) -> bool {
    // The significant digits, and the decimal exponent of the first one.
    let (magnitude, head, tail): (i64, &[u8], &[u8]) = match int.iter().position(|&d| d != b'0') {
        Some(p) => ((int.len() - p - 1) as i64, &int[p..], frac),
        None => match frac.iter().position(|&d| d != b'0') {
            Some(p) => (-(p as i64) - 1, &frac[p..], &[]),
            None => return true, // zero
        },
    };
    let magnitude = magnitude + exp;
    if magnitude != 308 {
        return magnitude < 308;
    }
    let mut digits = head.iter().chain(tail);
    for &limit in b"17976931348623158" {
        match digits.next() {
            Some(&d) if d != limit => return d < limit,
            Some(_) => {}
            None => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::JsonReader;

    #[test]
    fn accepts_what_serde_json_accepts() {
        let good = [
            "{}",
            " { \"a\" : [1, -2.5e+3, 0, true, false, null, \"x\\n\\u00e9\"] } ",
            "[]",
            "\"\"",
            "0",
            "-0.0E-1",
            "{\"nested\":{\"deeper\":[{\"k\":\"é 😀\"}]}}",
            "\"\\ud83d\\ude00\"",
            "1e308",
            "1.7976931348623157e308",
            "-1.7976931348623157e308",
            "1e-400",
            "0.0000000000001e320",
            &("9".repeat(308)),
        ];
        for text in good {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
            assert!(JsonReader::is_valid(text), "{text}");
        }
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        use super::nesting_within;
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(nesting_within(deep(125).as_bytes(), 125));
        assert!(!nesting_within(deep(126).as_bytes(), 125));
        let in_strings = format!("[\"{}\", \"\\\"[[[\"]", "[{".repeat(200));
        assert!(nesting_within(in_strings.as_bytes(), 2));
        // Two levels of envelope plus 125: what serde_json still reads.
        let body = format!("{{\"batch\":[{}]}}", deep(125));
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        let body = format!("{{\"batch\":[{}]}}", deep(126));
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        let bad = [
            "",
            "{",
            "}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"a\u{1}\"",
            "\"abc",
            "{} {}",
            "{'a':1}",
            "NaN",
            "Infinity",
            "{\"a\":1}}",
            // What serde_json refuses although the grammar allows it.
            "\"caf\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83d\\u0041\"",
            "1e400",
            "-1e309",
            "1.7976931348623158e308",
            "0.0000000000001e330",
            &("1".to_owned() + &"0".repeat(309)),
        ];
        for text in bad {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
            assert!(!JsonReader::is_valid(text), "{text}");
        }
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(!JsonReader::is_valid(&deep));
        let fine = "[".repeat(100) + &"]".repeat(100);
        assert!(JsonReader::is_valid(&fine));
    }

    #[test]
    fn walks_members_with_raw_keys() {
        let mut keys = Vec::new();
        let mut r = JsonReader::new(br#"{"a":1,"b\"c":{"d":[2]},"e":"f"}"#);
        r.object(0, |key, r| {
            keys.push(String::from_utf8(key.to_vec()).unwrap());
            r.skip(1)
        })
        .unwrap();
        assert_eq!(keys, ["a", "b\\\"c", "e"]);
    }
}
