//! A capture buffer with an optional byte limit, and the temporary file a
//! spilling capture continues into past it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which bytes a capture with a byte limit keeps.
///
/// Used with [`Command::stdout_capture_limit`](crate::Command::stdout_capture_limit)
/// and [`Command::stderr_capture_limit`](crate::Command::stderr_capture_limit).
/// Every way the child's output is read to the end, so the child never
/// blocks on a full pipe, and memory stays bounded by the limit (the
/// buffer never holds more than the limit, for every `Keep`).
/// [`Head`](Keep::Head) and [`Tail`](Keep::Tail) drop the rest;
/// [`Spill`](Keep::Spill) drops nothing and continues into a temporary file.
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
    /// Every byte: up to the limit in memory, then the whole stream in a
    /// temporary file, so a command that prints 20 GB costs the limit in
    /// memory and loses nothing (a *spilling capture*).
    ///
    /// While the output fits, it is all in [`Output::stdout`](crate::Output::stdout)
    /// as with any capture. Past the limit, [`Output::stdout_spilled`](crate::Output::stdout_spilled)
    /// holds the whole stream ([`Spilled`]: read it, or persist it to a
    /// path), and `stdout` only its first `limit` bytes;
    /// [`Output::stdout_reader`](crate::Output::stdout_reader) reads the
    /// whole stream either way. Nothing is dropped, so `stdout_truncated`
    /// stays `false`.
    ///
    /// The file has no name from the start (it is removed by the system
    /// when the last [`Spilled`] copy is dropped, or when this process
    /// ends, however it ends). It is made in
    /// [`Command::spill_dir`](crate::Command::spill_dir), by default the
    /// system's temporary directory (`TMPDIR`, else `/tmp`). If it cannot be
    /// made or written (a full disk), the run is stopped and fails with an
    /// [`Error::Io`](crate::Error::Io) that says how many bytes were kept.
    ///
    /// ```
    /// use procession::{cmd, Keep};
    /// use std::io::Read;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let out = cmd!("seq", "100000").stdout_capture_limit(1024, Keep::Spill).run()?;
    /// let spilled = out.stdout_spilled.as_ref().expect("past the limit");
    /// assert_eq!(spilled.len(), 588_895);
    /// assert_eq!(out.stdout.len(), 1024); // the first bytes, in memory
    /// let mut all = String::new();
    /// out.stdout_reader().read_to_string(&mut all)?;
    /// assert!(all.ends_with("99999\n100000\n"));
    /// assert!(!out.stdout_truncated);
    ///
    /// let small = cmd!("echo", "hi").stdout_capture_limit(1024, Keep::Spill).run()?;
    /// assert_eq!(small.stdout, b"hi\n");
    /// assert!(small.stdout_spilled.is_none());
    /// # Ok(()) }
    /// ```
    Spill,
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
    /// For [`Keep::Spill`]: where the file is made.
    dir: Option<Arc<Path>>,
    /// For [`Keep::Spill`] past the limit: the file, holding the whole
    /// stream, and how many bytes it holds.
    file: Option<File>,
    on_disk: u64,
    /// Writing the file failed: the rest is not kept.
    failed: bool,
}

impl Capture {
    pub(crate) fn new(limit: Option<usize>, keep: Keep) -> Capture {
        Capture {
            buf: Vec::new(),
            limit: limit.unwrap_or(usize::MAX),
            keep,
            total: 0,
            start: 0,
            dir: None,
            file: None,
            on_disk: 0,
            failed: false,
        }
    }

    /// Where a [`Keep::Spill`] capture makes its file (`None`: the
    /// system's temporary directory).
    pub(crate) fn spill_dir(mut self, dir: Option<Arc<Path>>) -> Capture {
        self.dir = dir;
        self
    }

    /// Takes in the next bytes of the stream. Only a [`Keep::Spill`]
    /// capture can fail: its file could not be made or written. Then the
    /// bytes that did not reach the file are lost, and so is the rest (see
    /// [`spill_failure`](Capture::spill_failure)).
    pub(crate) fn push(&mut self, data: &[u8]) -> io::Result<()> {
        if self.keep == Keep::Spill {
            return self.spill(data);
        }
        self.total += data.len() as u64;
        // Only the last `limit` bytes of a chunk can be kept.
        let mut data = match self.keep {
            Keep::Head | Keep::Spill => data,
            Keep::Tail => &data[data.len().saturating_sub(self.limit)..],
        };
        let room = self.limit - self.buf.len();
        let now = room.min(data.len());
        self.reserve(now);
        self.buf.extend_from_slice(&data[..now]);
        if self.keep == Keep::Head {
            return Ok(());
        }
        // The ring is full: overwrite its oldest bytes.
        data = &data[now..];
        while !data.is_empty() {
            let n = (self.limit - self.start).min(data.len());
            self.buf[self.start..self.start + n].copy_from_slice(&data[..n]);
            self.start = (self.start + n) % self.limit;
            data = &data[n..];
        }
        Ok(())
    }

    fn spill(&mut self, data: &[u8]) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.total += data.len() as u64;
        let mut data = data;
        if self.file.is_none() {
            // Memory first, up to the limit.
            let now = (self.limit - self.buf.len()).min(data.len());
            self.reserve(now);
            self.buf.extend_from_slice(&data[..now]);
            data = &data[now..];
            if data.is_empty() {
                return Ok(());
            }
        }
        let result = self.write_file(data);
        self.failed = result.is_err();
        result
    }

    fn write_file(&mut self, data: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let dir = self
                    .dir
                    .as_deref()
                    .map_or_else(std::env::temp_dir, Path::to_path_buf);
                let mut file = crate::sys::temp_file(&dir)?;
                write_counted(&mut file, &mut self.on_disk, &self.buf)?;
                self.file.insert(file)
            }
        };
        write_counted(file, &mut self.on_disk, data)
    }

    /// After a failed [`push`](Capture::push): how many bytes the stream
    /// had, and how many of them were kept (the first ones).
    pub(crate) fn spill_failure(&self) -> (u64, u64) {
        let kept = if self.file.is_some() {
            self.on_disk
        } else {
            self.buf.len() as u64
        };
        (self.total, kept)
    }

    /// The directory a [`Keep::Spill`] capture writes to, for messages.
    pub(crate) fn spill_dir_shown(&self) -> PathBuf {
        self.dir
            .as_deref()
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
    }

    /// The whole stream, if it went past the limit of a [`Keep::Spill`]
    /// capture; what stays is its first `limit` bytes.
    pub(crate) fn take_spilled(&mut self) -> Option<Spilled> {
        let file = self.file.take()?;
        Some(Spilled {
            file: Arc::new(file),
            len: self.on_disk,
        })
    }

    /// The buffer itself, for a read straight into its spare capacity
    /// (which saves copying every byte once more), with room for at least
    /// `chunk` more bytes or what is left below the limit. Only while the
    /// bytes are kept as they come: below the limit, not spilled, and once
    /// the stream has `chunk` bytes (so a short stream keeps a buffer of
    /// its own size). After the read, call [`appended`](Capture::appended).
    pub(crate) fn spare(&mut self, chunk: usize) -> Option<&mut Vec<u8>> {
        let room = self.limit - self.buf.len();
        if room == 0 || self.buf.len() < chunk || self.file.is_some() || self.failed {
            return None;
        }
        self.reserve(room.min(chunk));
        Some(&mut self.buf)
    }

    /// Takes in the `n` bytes a read appended to the buffer that
    /// [`spare`](Capture::spare) gave. Bytes past the limit (never, while
    /// the buffer's capacity stays within it) are taken in as
    /// [`push`](Capture::push) would.
    pub(crate) fn appended(&mut self, n: usize) -> io::Result<()> {
        self.total += n as u64;
        if self.buf.len() > self.limit {
            let extra = self.buf.split_off(self.limit);
            self.total -= extra.len() as u64;
            return self.push(&extra);
        }
        Ok(())
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
        let truncated = self.keep != Keep::Spill && self.total > self.buf.len() as u64;
        (self.buf, truncated)
    }
}

/// Writes all of `data`, counting every byte that got there, even when a
/// later write fails.
fn write_counted(file: &mut File, count: &mut u64, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match file.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *count += n as u64;
                data = &data[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A whole captured stream that went past the memory limit of a
/// [`Keep::Spill`] capture, in an unnamed temporary file.
///
/// Cheap to clone: clones share the file, which the system removes when
/// the last of them is dropped. Each [`reader`](Spilled::reader) reads
/// from the start on its own, so clones can be read at the same time.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Keep};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let out = cmd!("seq", "1000").stdout_capture_limit(100, Keep::Spill).run()?;
/// let spilled = out.stdout_spilled.expect("past the limit");
/// let path = std::env::temp_dir().join(format!("spilled-doc-{}", std::process::id()));
/// assert_eq!(spilled.persist(&path)?, spilled.len());
/// let persisted = std::fs::read(&path)?;
/// assert!(persisted.starts_with(b"1\n2\n") && persisted.ends_with(b"999\n1000\n"));
/// std::fs::remove_file(&path)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Spilled {
    file: Arc<File>,
    len: u64,
}

impl Spilled {
    /// How many bytes the stream had.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the stream was empty (never: only a stream past its limit
    /// spills).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reader over the whole stream, from its first byte.
    pub fn reader(&self) -> SpilledReader {
        SpilledReader {
            file: self.file.clone(),
            pos: 0,
            len: self.len,
        }
    }

    /// Copies the whole stream into a new file at `path` (created, or
    /// truncated if it exists). Returns how many bytes were written.
    ///
    /// # Errors
    ///
    /// If `path` cannot be created or written.
    pub fn persist(&self, path: impl AsRef<Path>) -> io::Result<u64> {
        let mut to = File::create(path)?;
        copy_big(&mut self.reader(), &mut to)
    }
}

/// Copies with a buffer big enough for a few system calls per megabyte.
pub(crate) fn copy_big(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        copied += n as u64;
    }
}

/// Reads a [`Spilled`] stream from the start (see [`Spilled::reader`]).
#[derive(Debug)]
pub struct SpilledReader {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SpilledReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.len - self.pos).min(buf.len() as u64) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = crate::sys::read_at(&self.file, &mut buf[..left], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(limit: Option<usize>, keep: Keep, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut c = Capture::new(limit, keep);
        for chunk in chunks {
            c.push(chunk).unwrap();
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
            c.push(&[(i % 256) as u8]).unwrap();
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
        for keep in [Keep::Head, Keep::Tail, Keep::Spill] {
            let mut c = Capture::new(Some(limit), keep);
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            for _ in 0..64 {
                c.push(&chunk).unwrap();
                assert!(c.buf.capacity() <= limit, "{keep:?}: {}", c.buf.capacity());
            }
            let spilled = c.take_spilled();
            let (got, truncated) = c.finish();
            assert_eq!(got.len(), limit);
            assert_eq!(truncated, keep != Keep::Spill);
            assert_eq!(spilled.is_some(), keep == Keep::Spill);
            let all: Vec<u8> = chunk
                .iter()
                .copied()
                .cycle()
                .take(64 * chunk.len())
                .collect();
            let want = match keep {
                Keep::Head | Keep::Spill => &all[..limit],
                Keep::Tail => &all[all.len() - limit..],
            };
            assert!(got == want, "{keep:?}: wrong bytes kept");
            if let Some(spilled) = spilled {
                let mut whole = Vec::new();
                spilled.reader().read_to_end(&mut whole).unwrap();
                assert!(whole == all, "the spilled stream differs");
            }
        }
    }

    /// limit, chunks pushed, bytes in memory, whole stream if spilled
    type SpillCase<'a> = (usize, &'a [&'a [u8]], &'a [u8], Option<&'a [u8]>);

    #[test]
    fn spill_past_the_limit() {
        let table: &[SpillCase] = &[
            (6, &[b"abc", b"def"], b"abcdef", None),
            (4, &[b"abc", b"def"], b"abcd", Some(b"abcdef")),
            (4, &[b"abcdef", b"g"], b"abcd", Some(b"abcdefg")),
            (4, &[b"abcd", b"", b"e"], b"abcd", Some(b"abcde")),
            (0, &[b"x"], b"", Some(b"x")),
            (0, &[], b"", None),
            (2, &[b"", b"ab", b""], b"ab", None),
        ];
        for (limit, chunks, memory, whole) in table {
            let mut c = Capture::new(Some(*limit), Keep::Spill);
            for chunk in *chunks {
                c.push(chunk).unwrap();
            }
            let spilled = c.take_spilled().map(|s| {
                let mut all = Vec::new();
                s.reader().read_to_end(&mut all).unwrap();
                assert_eq!(all.len() as u64, s.len());
                all
            });
            let (got, truncated) = c.finish();
            assert_eq!(&got[..], *memory, "{limit} {chunks:?}");
            assert_eq!(spilled.as_deref(), *whole, "{limit} {chunks:?}");
            assert!(!truncated);
        }
    }

    #[test]
    fn a_spill_that_cannot_start_says_what_was_kept() {
        let dir: Arc<Path> = Path::new("/nonexistent-spill-dir").into();
        let mut c = Capture::new(Some(4), Keep::Spill).spill_dir(Some(dir));
        c.push(b"abc").unwrap();
        let err = c.push(b"def").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(c.spill_failure(), (6, 4));
        // Later bytes are not taken in.
        c.push(b"ghi").unwrap();
        assert_eq!(c.spill_failure(), (6, 4));
    }

    #[test]
    fn reads_into_the_buffer_keep_what_pushes_keep() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for keep in [Keep::Head, Keep::Tail, Keep::Spill] {
            for limit in [
                None,
                Some(0),
                Some(100),
                Some(1000),
                Some(4999),
                Some(10_000),
            ] {
                let mut pushed = Capture::new(limit, keep);
                let mut read = Capture::new(limit, keep);
                for (k, chunk) in data.chunks(300).enumerate() {
                    pushed.push(chunk).unwrap();
                    let mut rest = chunk;
                    if let Some(buf) = read.spare(64) {
                        // What a read of the spare capacity appends; every
                        // third one more than that, as the guard allows.
                        let room = buf.capacity() - buf.len();
                        let n = if k % 3 == 0 {
                            rest.len()
                        } else {
                            room.min(rest.len())
                        };
                        buf.extend_from_slice(&rest[..n]);
                        read.appended(n).unwrap();
                        rest = &rest[n..];
                    }
                    read.push(rest).unwrap();
                    assert!(read.buf.len() <= read.limit, "{keep:?} {limit:?}");
                }
                let whole = |c: &mut Capture| {
                    c.take_spilled().map(|s| {
                        let mut all = Vec::new();
                        s.reader().read_to_end(&mut all).unwrap();
                        all
                    })
                };
                let (a, b) = (whole(&mut pushed), whole(&mut read));
                assert!(a == b, "{keep:?} {limit:?}: spilled streams differ");
                assert_eq!(pushed.total, read.total, "{keep:?} {limit:?}");
                assert!(pushed.finish() == read.finish(), "{keep:?} {limit:?}");
            }
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
