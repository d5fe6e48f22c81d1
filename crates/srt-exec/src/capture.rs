//! A capped capture of one output stream that keeps the beginning and the
//! end: what a program prints first (usage, the first error) and last (the
//! result, the traceback) are what a reader needs; the middle goes.

use std::collections::VecDeque;

/// Bytes kept of one stream: the first half of the cap, then a window of
/// the latest bytes for the other half.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    /// Bytes the program wrote in all.
    pub(crate) total: u64,
    cap: usize,
}

impl Capture {
    pub(crate) fn new(cap: u64) -> Self {
        Capture { cap: usize::try_from(cap).unwrap_or(usize::MAX), ..Capture::default() }
    }

    fn head_cap(&self) -> usize {
        self.cap / 2
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.head_cap().saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        let rest = &bytes[room..];
        let tail_cap = self.cap - self.head_cap();
        let rest = &rest[rest.len().saturating_sub(tail_cap)..];
        let overflow = (self.tail.len() + rest.len()).saturating_sub(tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(rest);
    }

    /// Bytes cut from the middle.
    pub(crate) fn cut(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The last `max` bytes kept, lossily decoded (progress reports).
    pub(crate) fn last(&self, max: usize) -> String {
        let all: Vec<u8> = self.head.iter().chain(self.tail.iter()).copied().collect();
        String::from_utf8_lossy(&all[all.len().saturating_sub(max)..]).into_owned()
    }

    /// The text kept, with a marker where the middle was cut; and whether
    /// anything was cut.
    pub(crate) fn text(&self) -> (String, bool) {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let cut = self.cut();
        if cut == 0 {
            let mut all = self.head.clone();
            all.extend_from_slice(&tail);
            return (String::from_utf8_lossy(&all).into_owned(), false);
        }
        let text = format!(
            "{}\n[... {cut} bytes cut from the middle: {} written in all, the first and last {} kept ...]\n{}",
            String::from_utf8_lossy(&self.head),
            self.total,
            self.head.len() + tail.len(),
            String::from_utf8_lossy(&tail)
        );
        (text, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_the_cap_everything_is_kept() {
        let mut c = Capture::new(10);
        c.push(b"hello");
        c.push(b" you");
        assert_eq!(c.text(), ("hello you".to_string(), false));
    }

    #[test]
    fn over_the_cap_the_beginning_and_the_end_are_kept() {
        let mut c = Capture::new(10);
        for chunk in [&b"01234"[..], b"56789", b"abcdefgh", b"XYZ"] {
            c.push(chunk);
        }
        let (text, cut) = c.text();
        assert!(cut);
        assert!(text.starts_with("01234\n"), "{text}");
        assert!(text.ends_with("...]\nghXYZ"), "{text}");
        assert_eq!(c.cut(), 21 - 10);
        assert!(text.contains("[... 11 bytes cut from the middle: 21 written in all"), "{text}");
        assert_eq!(c.last(3), "XYZ");
    }

    #[test]
    fn a_chunk_larger_than_the_cap() {
        let mut c = Capture::new(4);
        c.push(b"abcdefghij");
        assert_eq!(c.head, b"ab");
        assert_eq!(c.tail.iter().copied().collect::<Vec<_>>(), b"ij");
        assert_eq!(c.cut(), 6);
    }
}
