//! A capture buffer with an optional byte limit.

/// Which bytes a capture with a byte limit keeps.
///
/// Used with [`Command::stdout_capture_limit`](crate::Command::stdout_capture_limit)
/// and [`Command::stderr_capture_limit`](crate::Command::stderr_capture_limit).
/// Either way the child's output is read to the end, so the child never
/// blocks on a full pipe, and memory stays bounded by the limit (the
/// buffer never holds more than the limit, for either `Keep`).
///
/// # Examples
///
/// ```
/// use procession::{cmd, Keep};
/// # fn main() -> Result<(), procession::Error> {
/// let head = cmd!("printf", "abcdef").stdout_capture_limit(4, Keep::Head).run()?;
/// assert_eq!(head.stdout, b"abcd");
/// let tail = cmd!("printf", "abcdef").stdout_capture_limit(4, Keep::Tail).run()?;
/// assert_eq!(tail.stdout, b"cdef");
/// assert!(head.stdout_truncated && tail.stdout_truncated);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Keep {
    /// The first bytes (like `head -c`).
    Head,
    /// The last bytes (like `tail -c`): what explains a failure.
    Tail,
}

/// Collects a stream's bytes, keeping at most `limit` of them.
///
/// Memory: the buffer never holds more than `limit` bytes (its capacity
/// grows by doubling, but never past the limit). [`Keep::Tail`] keeps the
/// last bytes in a ring of that size, put in order once at the end.
#[derive(Debug)]
pub(crate) struct Capture {
    buf: Vec<u8>,
    limit: usize,
    keep: Keep,
    total: u64,
    /// For a full tail ring: where its oldest byte is (the next to be
    /// overwritten).
    start: usize,
}

impl Capture {
    pub(crate) fn new(limit: Option<usize>, keep: Keep) -> Capture {
        Capture {
            buf: Vec::new(),
            limit: limit.unwrap_or(usize::MAX),
            keep,
            total: 0,
            start: 0,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        // Only the last `limit` bytes of a chunk can be kept.
        let mut data = match self.keep {
            Keep::Head => data,
            Keep::Tail => &data[data.len().saturating_sub(self.limit)..],
        };
        let room = self.limit - self.buf.len();
        let now = room.min(data.len());
        self.reserve(now);
        self.buf.extend_from_slice(&data[..now]);
        if self.keep == Keep::Head {
            return;
        }
        // The ring is full: overwrite its oldest bytes.
        data = &data[now..];
        while !data.is_empty() {
            let n = (self.limit - self.start).min(data.len());
            self.buf[self.start..self.start + n].copy_from_slice(&data[..n]);
            self.start = (self.start + n) % self.limit;
            data = &data[n..];
        }
    }

    /// Room for `extra` more bytes: doubling, but never past the limit.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            let target = need
                .max(self.buf.capacity().saturating_mul(2))
                .min(self.limit.max(need));
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// The bytes kept, and whether any were dropped.
    pub(crate) fn finish(mut self) -> (Vec<u8>, bool) {
        self.buf.rotate_left(self.start);
        let truncated = self.total > self.buf.len() as u64;
        (self.buf, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(limit: Option<usize>, keep: Keep, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut c = Capture::new(limit, keep);
        for chunk in chunks {
            c.push(chunk);
        }
        c.finish()
    }

    /// limit, keep, chunks pushed, bytes kept, truncated
    type Case<'a> = (Option<usize>, Keep, &'a [&'a [u8]], &'a [u8], bool);

    #[test]
    fn limits() {
        let table: &[Case] = &[
            (None, Keep::Head, &[b"abc", b"def"], b"abcdef", false),
            (Some(4), Keep::Head, &[b"abc", b"def"], b"abcd", true),
            (Some(4), Keep::Tail, &[b"abc", b"def"], b"cdef", true),
            (Some(6), Keep::Tail, &[b"abc", b"def"], b"abcdef", false),
            (Some(2), Keep::Tail, &[b"abcdef"], b"ef", true),
            (Some(0), Keep::Head, &[b"x"], b"", true),
            (Some(0), Keep::Tail, &[b"x"], b"", true),
        ];
        for (limit, keep, chunks, want, truncated) in table {
            let (got, t) = captured(*limit, *keep, chunks);
            assert_eq!((&got[..], t), (*want, *truncated), "{limit:?} {keep:?}");
        }
    }

    #[test]
    fn tail_of_many_small_chunks() {
        let mut c = Capture::new(Some(10), Keep::Tail);
        for i in 0..100_000u32 {
            c.push(&[(i % 256) as u8]);
        }
        let (got, truncated) = c.finish();
        let want: Vec<u8> = (99_990..100_000u32).map(|i| (i % 256) as u8).collect();
        assert_eq!(got, want);
        assert!(truncated);
    }

    #[test]
    fn memory_stays_within_the_limit() {
        // A limit that is not a power of two, fed in pipe-sized chunks.
        let limit = 1_000_003;
        for keep in [Keep::Head, Keep::Tail] {
            let mut c = Capture::new(Some(limit), keep);
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            for _ in 0..64 {
                c.push(&chunk);
                assert!(c.buf.capacity() <= limit, "{keep:?}: {}", c.buf.capacity());
            }
            let (got, truncated) = c.finish();
            assert_eq!(got.len(), limit);
            assert!(truncated);
            let all: Vec<u8> = chunk
                .iter()
                .copied()
                .cycle()
                .take(64 * chunk.len())
                .collect();
            let want = match keep {
                Keep::Head => &all[..limit],
                Keep::Tail => &all[all.len() - limit..],
            };
            assert!(got == want, "{keep:?}: wrong bytes kept");
        }
    }

    #[test]
    fn tail_ring_wraps_in_order() {
        // limit, chunks pushed, bytes kept
        type Row<'a> = (usize, &'a [&'a [u8]], &'a [u8]);
        let table: &[Row] = &[
            (3, &[b"ab", b"cd", b"e"], b"cde"),
            (3, &[b"abcd", b"e", b"fgh", b"ij"], b"hij"),
            (4, &[b"a", b"bcdefg", b"h"], b"efgh"),
            (5, &[b"abc"], b"abc"),
        ];
        for (limit, chunks, want) in table {
            let (got, _) = captured(Some(*limit), Keep::Tail, chunks);
            assert_eq!(&got[..], *want, "{limit} {chunks:?}");
        }
    }
}
