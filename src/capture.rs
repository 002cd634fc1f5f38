//! A capture buffer with an optional byte limit.

/// Which bytes a capture with a byte limit keeps.
///
/// Used with [`Command::stdout_capture_limit`](crate::Command::stdout_capture_limit)
/// and [`Command::stderr_capture_limit`](crate::Command::stderr_capture_limit).
/// Either way the child's output is read to the end, so the child never
/// blocks on a full pipe, and memory stays bounded by the limit.
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
#[derive(Debug)]
pub(crate) struct Capture {
    buf: Vec<u8>,
    limit: usize,
    keep: Keep,
    total: u64,
}

impl Capture {
    pub(crate) fn new(limit: Option<usize>, keep: Keep) -> Capture {
        Capture {
            buf: Vec::new(),
            limit: limit.unwrap_or(usize::MAX),
            keep,
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        match self.keep {
            Keep::Head => {
                let room = self.limit.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&data[..room.min(data.len())]);
            }
            Keep::Tail => {
                if data.len() >= self.limit {
                    self.buf.clear();
                    self.buf.extend_from_slice(&data[data.len() - self.limit..]);
                    return;
                }
                self.buf.extend_from_slice(data);
                // Trim in batches so that keeping the tail stays linear.
                if self.buf.len() > self.limit.saturating_mul(2).max(64 * 1024) {
                    let excess = self.buf.len() - self.limit;
                    self.buf.drain(..excess);
                }
            }
        }
    }

    /// The bytes kept, and whether any were dropped.
    pub(crate) fn finish(mut self) -> (Vec<u8>, bool) {
        if self.buf.len() > self.limit {
            let excess = self.buf.len() - self.limit;
            self.buf.drain(..excess);
        }
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
}
