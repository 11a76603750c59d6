//! Reads the input one line at a time with bounded memory, hashing every
//! line as it streams by.
//!
//! A line is never held longer than the limit: past it, the reader streams
//! on to the next newline without keeping the bytes, so a file without
//! newlines (or `/dev/zero`) costs the limit and the read buffer, not its
//! size. Bytes that are not UTF-8 make that line unreadable, not the input.

use std::io::{self, BufRead};

use sha2::{Digest, Sha256};

/// SHA-256 of a line's bytes, without its `\n`: what a checkpoint records.
pub type LineDigest = [u8; 32];

/// One line, as read.
pub struct RawLine<'a> {
    /// 1-based, blank lines included.
    pub number: u64,
    pub digest: LineDigest,
    pub content: Content<'a>,
}

/// What a line holds.
pub enum Content<'a> {
    /// The text without `\n` or `\r\n`.
    Text(&'a str),
    /// Longer than the limit: skipped unread; `bytes` without the `\n`.
    TooLong { bytes: u64, limit: usize },
    /// Not UTF-8; the first bad byte is at `valid_up_to`.
    NotUtf8 { valid_up_to: usize },
}

impl Content<'_> {
    /// Why a line that cannot become an event is skipped, or `None` for text.
    pub fn problem(&self) -> Option<String> {
        match self {
            Content::Text(_) => None,
            Content::TooLong { bytes, limit } => Some(format!(
                "{bytes} bytes long, above the limit of {limit} bytes per line"
            )),
            Content::NotUtf8 { valid_up_to } => {
                Some(format!("not valid UTF-8 (at byte {valid_up_to})"))
            }
        }
    }
}

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    limit: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Keeps at most `limit` bytes of a line.
    pub fn new(inner: R, limit: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            limit,
            number: 0,
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at the end of the input. A last line
    /// without `\n` is a line like any other.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        self.buf.clear();
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            hasher.update(chunk);
            bytes += chunk.len() as u64;
            if !too_long {
                if self.buf.len() + chunk.len() > self.limit {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.inner.consume(used);
            if newline.is_some() {
                break;
            }
        }
        self.number += 1;
        let digest: LineDigest = hasher.finalize().into();
        let content = if too_long {
            Content::TooLong {
                bytes,
                limit: self.limit,
            }
        } else {
            let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
            match std::str::from_utf8(line) {
                Ok(text) => Content::Text(text),
                Err(e) => Content::NotUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
            }
        };
        Ok(Some(RawLine {
            number: self.number,
            digest,
            content,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], limit: usize) -> Vec<(u64, String, LineDigest)> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(4, input), limit);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            let shown = match line.content {
                Content::Text(t) => format!("text:{t}"),
                Content::TooLong { bytes, .. } => format!("too long:{bytes}"),
                Content::NotUtf8 { valid_up_to } => format!("not utf-8:{valid_up_to}"),
            };
            out.push((line.number, shown, line.digest));
        }
        out
    }

    #[test]
    fn splits_bounds_and_survives_bad_bytes() {
        let lines = read_all(b"ab\r\n\nabcdefghijk\n\xffz\nlast", 8);
        let shown: Vec<_> = lines.iter().map(|(n, s, _)| (*n, s.as_str())).collect();
        assert_eq!(
            shown,
            [
                (1, "text:ab"),
                (2, "text:"),
                (3, "too long:11"),
                (4, "not utf-8:0"),
                (5, "text:last"),
            ]
        );
        let digest: LineDigest = Sha256::digest(b"abcdefghijk").into();
        assert_eq!(lines[2].2, digest, "a skipped line is hashed all the same");
    }

    #[test]
    fn a_last_line_hashes_the_same_with_or_without_its_newline() {
        assert_eq!(read_all(b"x\ny", 8), read_all(b"x\ny\n", 8));
        assert!(read_all(b"", 8).is_empty());
    }
}
