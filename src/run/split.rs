//! Cutting a line-mode channel's bytes into lines, for the line iterators
//! and the pool's tagged output; a line too long to hold whole comes in
//! marked pieces.

use std::collections::VecDeque;

use crate::redirect::Stream;

/// The longest line the line iterators hand out whole, by default; a
/// longer one comes in pieces of at most this size (cut between UTF-8
/// characters), each marked as such, so memory stays bounded without
/// newlines. See `Lines::max_line`.
pub(crate) const MAX_LINE: usize = 8 * 1024 * 1024;

/// The smallest maximum line length: room for any UTF-8 character.
pub(crate) const MIN_MAX_LINE: usize = 4;

/// A line of output, tagged with its stream, for the line iterators.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) stream: Stream,
    pub(crate) bytes: Vec<u8>,
    /// A piece of a line longer than the maximum, not a whole line.
    pub(crate) overlong: bool,
    /// For a piece: it is the line's last.
    pub(crate) ends_line: bool,
}

/// Receives every complete line of a line-mode channel as it arrives.
pub(crate) type LineSink = Box<dyn FnMut(Line) + Send + Sync>;

/// A line-mode channel's unfinished line, for [`split_lines`].
pub(super) struct Splitter<'a> {
    pub(super) partial: &'a mut Vec<u8>,
    pub(super) overlong: &'a mut bool,
    pub(super) stream: Stream,
    pub(super) max: usize,
}

/// Appends `data` to the unfinished line, moving every complete line
/// (without its `\n`, and without a `\r` before it) to `out`.
///
/// A line longer than `max` bytes comes out in pieces marked `overlong`,
/// each at most `max` bytes and cut between UTF-8 characters (see
/// [`cut_at`]); its last piece (up to the newline) is marked `ends_line`.
/// So the unfinished line never holds much more than `max` bytes.
pub(super) fn split_lines(line: &mut Splitter<'_>, data: &[u8], out: &mut VecDeque<Line>) {
    let mut rest = data;
    loop {
        let nl = rest.iter().position(|b| *b == b'\n');
        let end = nl.unwrap_or(rest.len());
        line.partial.extend_from_slice(&rest[..end]);
        // Only a line known to be longer than `max` is cut.
        while line.partial.len() > line.max {
            let cut = cut_at(line.partial, line.max);
            let tail = line.partial.split_off(cut);
            out.push_back(Line {
                stream: line.stream,
                bytes: std::mem::replace(line.partial, tail),
                overlong: true,
                ends_line: false,
            });
            *line.overlong = true;
        }
        let Some(nl) = nl else { return };
        if line.partial.last() == Some(&b'\r') {
            line.partial.pop();
        }
        out.push_back(Line {
            stream: line.stream,
            bytes: std::mem::take(line.partial),
            overlong: std::mem::take(line.overlong),
            ends_line: true,
        });
        rest = &rest[nl + 1..];
    }
}

/// Where to cut a piece of at most `max` bytes off the front of `bytes`
/// (longer than `max`): at `max`, or up to three bytes before it so as not
/// to split a UTF-8 character (a byte `10xxxxxx` continues one). Bytes that
/// are not UTF-8 are cut at `max`.
fn cut_at(bytes: &[u8], max: usize) -> usize {
    let continues = |i: usize| bytes[i] & 0xC0 == 0x80;
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| i > 0 && !continues(i))
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line's bytes, whether it is a piece of an overlong line, and
    /// whether it ends the line.
    type Piece = (Vec<u8>, bool, bool);

    /// The lines `chunks` make, and what is left unfinished.
    fn split(max: usize, chunks: &[&[u8]]) -> (Vec<Piece>, Vec<u8>) {
        let (mut partial, mut overlong) = (Vec::new(), false);
        let mut out = VecDeque::new();
        for chunk in chunks {
            let mut line = Splitter {
                partial: &mut partial,
                overlong: &mut overlong,
                stream: Stream::Stdout,
                max,
            };
            split_lines(&mut line, chunk, &mut out);
        }
        let lines = out
            .into_iter()
            .map(|l| (l.bytes, l.overlong, l.ends_line))
            .collect();
        (lines, partial)
    }

    #[test]
    fn lines_split_across_chunks() {
        let (lines, partial) = split(MAX_LINE, &[b"a\nb", b"c\r\n\nd"]);
        let whole = |b: &[u8]| (b.to_vec(), false, true);
        assert_eq!(lines, [whole(b"a"), whole(b"bc"), whole(b"")]);
        assert_eq!(partial, b"d");
    }

    #[test]
    fn an_overlong_line_comes_in_marked_pieces() {
        let data = vec![b'x'; 25];
        let (lines, partial) = split(10, &[&data, b"yy\nz"]);
        let piece = |n: usize, last: bool| {
            let mut b = vec![b'x'; n];
            if last {
                b.extend_from_slice(b"yy");
            }
            (b, true, last)
        };
        assert_eq!(lines, [piece(10, false), piece(10, false), piece(5, true)]);
        assert_eq!(partial, b"z");
        // A line of exactly the maximum is whole.
        let (lines, _) = split(10, &[&data[..10], b"\n"]);
        assert_eq!(lines, [(data[..10].to_vec(), false, true)]);
    }

    #[test]
    fn overlong_pieces_are_cut_between_characters() {
        let euros = "€".repeat(30_000);
        let mut line = euros.clone().into_bytes();
        line.push(b'\n');
        // Fed in chunks that end inside characters.
        let chunks: Vec<&[u8]> = line.chunks(4_096).collect();
        for max in [4, 5, 1000, 65_536] {
            let (lines, partial) = split(max, &chunks);
            assert!(partial.is_empty());
            let mut joined = Vec::new();
            for (i, (bytes, overlong, ends)) in lines.iter().enumerate() {
                assert!(bytes.len() <= max && *overlong, "{max} {i}");
                assert_eq!(*ends, i == lines.len() - 1);
                assert!(
                    std::str::from_utf8(bytes).is_ok(),
                    "{max}: piece {i} cut a character"
                );
                joined.extend_from_slice(bytes);
            }
            assert_eq!(joined, euros.as_bytes());
        }
        // The default keeps it whole.
        let (lines, _) = split(MAX_LINE, &chunks);
        assert_eq!(lines, [(euros.into_bytes(), false, true)]);
    }

    #[test]
    fn cut_at_table() {
        let e = "€".as_bytes(); // E2 82 AC
        // (bytes, max, cut)
        let table: &[(&[u8], usize, usize)] = &[
            (b"abcdef", 4, 4),
            (&[b'a', e[0], e[1], e[2], b'b'], 2, 1),
            (&[b'a', e[0], e[1], e[2], b'b'], 3, 1),
            (&[b'a', e[0], e[1], e[2], b'b'], 4, 4),
            (&[e[0], e[1], e[2], e[0], e[1], e[2]], 4, 3),
            // Not UTF-8: continuation bytes all the way, cut at the maximum.
            (&[0x80; 10], 5, 5),
            (&[e[0], e[1], e[2], 0x80, 0x80], 4, 4),
        ];
        for (bytes, max, want) in table {
            assert_eq!(cut_at(bytes, *max), *want, "{bytes:?} {max}");
        }
    }
}
