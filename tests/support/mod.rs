//! Shared support for procession's integration tests and benchmarks.
//!
//! Tests use `mod support;`; benches use
//! `#[path = "../tests/support/mod.rs"] mod support;`.
//!
//! The helper program `pt` (see `pt.rs`) is compiled on demand with `rustc`
//! into `<target dir>/procession-testbins/pt`. It is deliberately not a cargo
//! `[[bin]]` target so it can never be published as one of the crate's
//! binaries.

// Each test file uses a different subset of these helpers (this covers the
// submodules too).
#![allow(dead_code)]

pub mod examples;
pub mod procfs;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Path of the compiled `pt` helper, building it first if it is missing or
/// older than `tests/support/pt.rs`.
///
/// Safe to call from many threads (built once per process) and from many
/// processes at once (each compiles into its own temporary directory and then
/// atomically renames the result into place).
pub fn pt() -> &'static Path {
    static PT: OnceLock<PathBuf> = OnceLock::new();
    PT.get_or_init(build_pt)
}

/// A procession command that runs `pt` with `args`, e.g.
/// `pt_cmd(["sleep", "1"])`.
pub fn pt_cmd<I>(args: I) -> procession::Command
where
    I: IntoIterator,
    I::Item: AsRef<OsStr>,
{
    procession::Command::new(pt()).args(args.into_iter().map(|a| a.as_ref().to_owned()))
}

/// Directory holding `pt` (and nothing else of interest), for PATH-lookup
/// tests.
pub fn bin_dir() -> &'static Path {
    pt().parent().expect("pt has a parent directory")
}

/// The deterministic test pattern: byte `i` is `i % 251` (a prime, so the
/// pattern never lines up with power-of-two buffer sizes). `pt write` emits it
/// and `pt verify` checks it.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Whether `data` is exactly `pattern(data.len())`.
pub fn is_pattern(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8)
}

/// Reads `reader` to its end in pieces (constant memory) and checks that it
/// is the pattern: `Ok(length)`, or `Err(offset)` of the first byte that
/// differs.
pub fn read_pattern(mut reader: impl std::io::Read) -> Result<usize, usize> {
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0usize;
    loop {
        let got = reader.read(&mut buf).expect("read the stream");
        if got == 0 {
            return Ok(at);
        }
        if let Some(i) = buf[..got]
            .iter()
            .enumerate()
            .position(|(i, &b)| b != ((at + i) % 251) as u8)
        {
            return Err(at + i);
        }
        at += got;
    }
}

/// A size read from the environment variable `name`, e.g. `64K`, `10M`, `1G`
/// (suffixes are powers of 1024, case-insensitive), or `default` if it is
/// unset. Panics on a malformed value rather than silently using the default.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => parse_size(&value)
            .unwrap_or_else(|| panic!("{name}={value:?} is not a size like 100, 64K, 1M or 2G")),
        Err(std::env::VarError::NotPresent) => default,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// A byte count with an optional K, M or G suffix (same syntax as `pt`).
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

fn build_pt() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("tests/support/pt.rs");
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        // A relative CARGO_TARGET_DIR is taken relative to the package.
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("target"),
    };
    let dir = target_dir.join("procession-testbins");
    let dest = dir.join("pt");

    if is_up_to_date(&dest, &source) {
        return dest;
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));

    // rustc writes intermediate files next to its output, so every build gets
    // a private directory; the finished binary is then renamed into place
    // (atomic within one file system, and harmless if another process wins).
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = dir.join(format!(
        ".build-{}-{}-{nanos}",
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
    let built = scratch.join("pt");

    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&built)
        .arg(&source)
        .output();
    let result = match output {
        Ok(out) if out.status.success() => std::fs::rename(&built, &dest)
            .map_err(|e| format!("cannot move {} into place: {e}", built.display())),
        Ok(out) => Err(format!(
            "{:?} failed to compile {} ({}):\n{}",
            rustc,
            source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("cannot run {rustc:?}: {e}")),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(msg) = result {
        panic!("building the pt test helper: {msg}");
    }
    dest
}

/// `dest` exists and is not older than `source`.
fn is_up_to_date(dest: &Path, source: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    match (modified(dest), modified(source)) {
        (Ok(built), Ok(src)) => built >= src,
        // No binary yet; or no source (e.g. a packaged crate), keep what exists.
        (Ok(_), Err(_)) => true,
        (Err(_), _) => false,
    }
}
