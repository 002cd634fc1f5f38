//! `pt`: a multi-call helper program for procession's tests and benchmarks.
//!
//! It stands in for system tools (`echo`, `cat`, `sleep`, `yes`, ...) so the
//! tests behave the same everywhere. It is NOT a cargo `[[bin]]` target (it
//! must never be published with the crate): `tests/support/mod.rs` compiles it
//! on demand with plain `rustc`, so it may only use `std`.
//!
//! Usage: `pt SUBCOMMAND ARGS...`. Usage errors print a message to stderr and
//! exit 2; I/O errors print a message and exit 1. SIGPIPE is reset to its
//! default disposition at start-up, so like a C program every subcommand dies
//! of SIGPIPE when it writes to a pipe whose reader is gone.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::{self, Command, Stdio};
use std::time::Duration;

const USAGE: &str = "\
usage: pt SUBCOMMAND ARGS...
  echo ARGS...                 print ARGS joined by spaces
  argv ARGS...                 print each ARG's raw bytes followed by NUL
  cat                          copy stdin to stdout
  tee2                         copy stdin to both stdout and stderr
  sleep SECS                   sleep (float seconds)
  exit CODE                    exit with CODE
  fail CODE MESSAGE...         print MESSAGE to stderr, exit with CODE
  env [NAME...]                print environment (sorted) or chosen variables
  pwd                          print current directory
  write OUT [ERR]              write OUT/ERR pattern bytes to stdout/stderr
  write-hold N SECS            write N pattern bytes to stdout, then sleep
  verify N                     check stdin is exactly N pattern bytes
  count                        print number of bytes on stdin
  lines N [INTERVAL_MS]        alternate N lines between stdout and stderr
  yes [TEXT]                   print TEXT (default y) forever
  long-line TEXT N [err]       print one line of TEXT repeated N times, in
                               small writes (to stderr with `err`)
  head N                       copy N lines from stdin, then exit
  kill-self SIG                raise SIG against itself (exit 99 if alive)
  ignore-term SECS             ignore SIGTERM/SIGINT, print ready, sleep
  pgid                         print \"PID PGID\"
  session                      print \"PID PGID SID\"
  ids                          print \"UID GID\" (real ids)
  argv0                        print argv[0]
  grandchild SECS [N] [--hold SECS2]
                               spawn N `pt sleep SECS`, print their pids
  ppid-wait                    print own pid, wait for EOF on stdin
  escape HOW SECS [--after-eof]
                               start `pt sleep SECS` outside our group and
                               print its pid; HOW: setsid or setpgid (wait
                               for it), setsid-f (exit at once, orphaning
                               it), double-fork (through a setsid-f that
                               exits, then sleep SECS ourselves)
  sleep-exit SECS CODE         sleep SECS, then exit with CODE
  append FILE N INTERVAL_MS    append N lines \"$SLURM_JOB_ID I\" to FILE, one
                               every INTERVAL_MS
  fail-once FILE CODE          exit CODE and create FILE if FILE is missing,
                               else exit 0
  term-tree SECS               start a `setsid` and a double-forked `pt sleep
                               SECS`, print ready, then print \"term\" when
                               SIGTERM comes (and go on), exit after SECS
  count-signal SIG             count SIG, print ready; after the first, wait
                               300 ms and print the count
  sigrtmin                     print SIGRTMIN as the C library reports it
  cgroup                       wait for EOF on stdin, print /proc/self/cgroup
  fds                          copy stdin to stdout, then print \"fds: N...\",
                               the descriptors open in this process

With PT_READY=FILE in its environment, `lines` and `cat` create FILE once
their first write to stdout is done.";

/// Creates the file named by `PT_READY`, if set: this process's first
/// write to stdout is done (a test can tell that a line was written before
/// the process was stopped).
fn mark_ready() -> io::Result<()> {
    match std::env::var_os("PT_READY") {
        Some(path) if !path.is_empty() => File::create(path).map(drop),
        _ => Ok(()),
    }
}

/// Chunk size for bulk I/O.
const CHUNK: usize = 64 * 1024;

fn main() {
    sys::restore_sigpipe();
    let mut args = std::env::args_os().skip(1);
    let Some(sub) = args.next() else {
        usage("missing subcommand")
    };
    let args: Vec<OsString> = args.collect();
    let Some(sub) = sub.to_str() else {
        usage("subcommand is not UTF-8")
    };
    let result = match sub {
        "echo" => echo(&args),
        "argv" => argv(&args),
        "cat" => cat(),
        "tee2" => tee2(),
        "sleep" => sleep(&args),
        "exit" => exit(&args),
        "fail" => fail(&args),
        "env" => env(&args),
        "pwd" => pwd(),
        "write" => write(&args),
        "write-hold" => write_hold(&args),
        "verify" => verify(&args),
        "count" => count(),
        "lines" => lines(&args),
        "yes" => yes(&args),
        "long-line" => long_line(&args),
        "head" => head(&args),
        "kill-self" => kill_self(&args),
        "ignore-term" => ignore_term(&args),
        "pgid" => pgid(),
        "session" => session(),
        "ids" => ids(),
        "argv0" => argv0(),
        "grandchild" => grandchild(&args),
        "ppid-wait" => ppid_wait(),
        "escape" => escape(&args),
        "count-signal" => count_signal(&args),
        "term-tree" => term_tree(&args),
        "fail-once" => fail_once(&args),
        "sleep-exit" => sleep_exit(&args),
        "append" => append(&args),
        "cgroup" => own_cgroup(),
        "sigrtmin" => {
            println!("{}", sys::sigrtmin());
            Ok(())
        }
        "fds" => fds(),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => usage(&format!("unknown subcommand {other:?}")),
    };
    if let Err(e) = result {
        eprintln!("pt {sub}: {e}");
        process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------

fn echo(args: &[OsString]) -> io::Result<()> {
    let mut line = join(args);
    line.push(b'\n');
    stdout().write_all(&line)
}

fn argv(args: &[OsString]) -> io::Result<()> {
    let mut buf = Vec::new();
    for a in args {
        buf.extend_from_slice(a.as_bytes());
        buf.push(0);
    }
    stdout().write_all(&buf)
}

fn cat() -> io::Result<()> {
    let (mut input, mut out) = (stdin(), stdout());
    let mut buf = vec![0u8; CHUNK];
    let mut first = true;
    loop {
        match read_chunk(&mut input, &mut buf)? {
            0 => return Ok(()),
            n => out.write_all(&buf[..n])?,
        }
        if std::mem::take(&mut first) {
            mark_ready()?;
        }
    }
}

/// Copies stdin to stdout, then lists the descriptors open in this
/// process (not counting the one that reads the list).
fn fds() -> io::Result<()> {
    cat()?;
    let listing = std::path::PathBuf::from(format!("/proc/{}/fd", process::id()));
    let mut open = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_link(entry.path()).is_ok_and(|target| target == listing) {
            continue;
        }
        open.push(fd);
    }
    open.sort_unstable();
    let list: Vec<String> = open.iter().map(u32::to_string).collect();
    stdout().write_all(format!("fds: {}\n", list.join(" ")).as_bytes())
}

fn tee2() -> io::Result<()> {
    let (mut input, mut out, mut err) = (stdin(), stdout(), stderr());
    let mut buf = vec![0u8; CHUNK];
    loop {
        match read_chunk(&mut input, &mut buf)? {
            0 => return Ok(()),
            n => {
                out.write_all(&buf[..n])?;
                err.write_all(&buf[..n])?;
            }
        }
    }
}

fn sleep(args: &[OsString]) -> io::Result<()> {
    let [secs] = args else { usage("sleep SECS") };
    std::thread::sleep(parse_secs(secs));
    Ok(())
}

fn exit(args: &[OsString]) -> io::Result<()> {
    let [code] = args else { usage("exit CODE") };
    process::exit(parse_num(code, "CODE"))
}

fn fail(args: &[OsString]) -> io::Result<()> {
    let [code, message @ ..] = args else {
        usage("fail CODE MESSAGE...")
    };
    let code: i32 = parse_num(code, "CODE");
    let mut line = join(message);
    line.push(b'\n');
    stderr().write_all(&line)?;
    process::exit(code)
}

fn env(names: &[OsString]) -> io::Result<()> {
    let vars: Vec<(OsString, OsString)> = if names.is_empty() {
        let mut all: Vec<_> = std::env::vars_os().collect();
        all.sort();
        all
    } else {
        names
            .iter()
            .filter_map(|n| Some((n.clone(), std::env::var_os(n)?)))
            .collect()
    };
    let mut buf = Vec::new();
    for (key, value) in &vars {
        buf.extend_from_slice(key.as_bytes());
        buf.push(b'=');
        buf.extend_from_slice(value.as_bytes());
        buf.push(b'\n');
    }
    stdout().write_all(&buf)
}

fn pwd() -> io::Result<()> {
    let mut line = std::env::current_dir()?.into_os_string().into_vec();
    line.push(b'\n');
    stdout().write_all(&line)
}

/// Writes `OUT` pattern bytes to stdout and `ERR` to stderr, alternating
/// 64 KiB chunks so that both pipes fill up at the same time.
fn write(args: &[OsString]) -> io::Result<()> {
    let (out_len, err_len) = match args {
        [out] => (parse_size(out, "OUT"), 0),
        [out, err] => (parse_size(out, "OUT"), parse_size(err, "ERR")),
        _ => usage("write OUT [ERR]"),
    };
    // Pattern bytes for any chunk: a chunk starting at offset `o` is
    // `source[o % 251..][..len]`.
    let source = pattern(CHUNK + 251);
    let mut streams = [(stdout(), 0, out_len), (stderr(), 0, err_len)];
    while streams.iter().any(|(_, done, len)| done < len) {
        for (file, done, len) in &mut streams {
            let n = CHUNK.min(*len - *done);
            if n > 0 {
                let start = *done % 251;
                file.write_all(&source[start..start + n])?;
                *done += n;
            }
        }
    }
    Ok(())
}

fn write_hold(args: &[OsString]) -> io::Result<()> {
    let [n, secs] = args else {
        usage("write-hold N SECS")
    };
    write(std::slice::from_ref(n))?;
    stdout().flush()?;
    std::thread::sleep(parse_secs(secs));
    Ok(())
}

fn verify(args: &[OsString]) -> io::Result<()> {
    let [n] = args else { usage("verify N") };
    let expected = parse_size(n, "N");
    let mut input = stdin();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0usize;
    let mut first_diff: Option<(usize, u8)> = None;
    loop {
        let n = read_chunk(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        if first_diff.is_none() {
            let bad = buf[..n]
                .iter()
                .enumerate()
                .find(|&(i, &b)| total + i >= expected || b != pattern_byte(total + i));
            first_diff = bad.map(|(i, &b)| (total + i, b));
        }
        total += n;
    }
    if total == expected && first_diff.is_none() {
        return Ok(());
    }
    let mut msg = format!("pt verify: expected {expected} pattern bytes, got {total} bytes");
    if let Some((offset, got)) = first_diff {
        if offset < expected {
            let want = pattern_byte(offset);
            msg += &format!("; first difference at offset {offset}: expected {want}, got {got}");
        }
    }
    eprintln!("{msg}");
    process::exit(1)
}

fn count() -> io::Result<()> {
    let mut input = stdin();
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        match read_chunk(&mut input, &mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    stdout().write_all(format!("{total}\n").as_bytes())
}

fn lines(args: &[OsString]) -> io::Result<()> {
    let (n, interval) = match args {
        [n] => (parse_num::<u64>(n, "N"), 0),
        [n, ms] => (parse_num(n, "N"), parse_num(ms, "INTERVAL_MS")),
        _ => usage("lines N [INTERVAL_MS]"),
    };
    let (mut out, mut err) = (stdout(), stderr());
    for i in 0..n {
        if i > 0 && interval > 0 {
            std::thread::sleep(Duration::from_millis(interval));
        }
        // Each line is a single unbuffered write: nothing to flush.
        if i % 2 == 0 {
            out.write_all(format!("out {i}\n").as_bytes())?;
        } else {
            err.write_all(format!("err {i}\n").as_bytes())?;
        }
        if i == 0 {
            mark_ready()?;
        }
    }
    Ok(())
}

fn long_line(args: &[OsString]) -> io::Result<()> {
    let (text, n, to_err) = match args {
        [text, n] => (text, parse_num::<u64>(n, "N"), false),
        [text, n, err] if err == "err" => (text, parse_num::<u64>(n, "N"), true),
        _ => usage("long-line TEXT N [err]"),
    };
    let mut out: Box<dyn Write> = if to_err {
        Box::new(stderr())
    } else {
        Box::new(stdout())
    };
    // Several writes, as a program printing as it goes makes them.
    let mut buf = Vec::new();
    for _ in 0..n {
        buf.extend_from_slice(text.as_bytes());
        if buf.len() >= 4093 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.push(b'\n');
    out.write_all(&buf)
}

fn yes(args: &[OsString]) -> io::Result<()> {
    let mut line = match args {
        [] => b"y".to_vec(),
        [text] => text.as_bytes().to_vec(),
        _ => usage("yes [TEXT]"),
    };
    line.push(b'\n');
    // Fill a buffer with whole lines so each write is large.
    let mut buf = Vec::with_capacity(CHUNK + line.len());
    while buf.len() < CHUNK {
        buf.extend_from_slice(&line);
    }
    let mut out = stdout();
    loop {
        // Dies of SIGPIPE once the reader is gone.
        out.write_all(&buf)?;
    }
}

/// Copies exactly N lines (fewer if EOF comes first) and exits without
/// draining the rest of stdin. Reads in chunks like a real `head`, so it may
/// consume a little more than N lines from the pipe.
fn head(args: &[OsString]) -> io::Result<()> {
    let [n] = args else { usage("head N") };
    let mut remaining: u64 = parse_num(n, "N");
    let (mut input, mut out) = (stdin(), stdout());
    let mut buf = vec![0u8; CHUNK];
    while remaining > 0 {
        let n = read_chunk(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        let mut end = n;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            remaining -= 1;
            if remaining == 0 {
                end = i + 1;
                break;
            }
        }
        out.write_all(&buf[..end])?;
    }
    Ok(())
}

fn kill_self(args: &[OsString]) -> io::Result<()> {
    let [sig] = args else { usage("kill-self SIG") };
    let Some(sig) = sys::parse_signal(sig) else {
        usage(&format!("unknown signal {:?}", sig))
    };
    sys::raise_default(sig);
    eprintln!("pt kill-self: still alive after signal {sig}");
    process::exit(99)
}

fn ignore_term(args: &[OsString]) -> io::Result<()> {
    let [secs] = args else {
        usage("ignore-term SECS")
    };
    let secs = parse_secs(secs);
    sys::ignore(sys::SIGTERM);
    sys::ignore(sys::SIGINT);
    stdout().write_all(b"ready\n")?;
    std::thread::sleep(secs);
    Ok(())
}

fn pgid() -> io::Result<()> {
    let (pid, pgid) = sys::pid_pgid();
    stdout().write_all(format!("{pid} {pgid}\n").as_bytes())
}

fn session() -> io::Result<()> {
    let (pid, pgid) = sys::pid_pgid();
    let sid = sys::sid();
    stdout().write_all(format!("{pid} {pgid} {sid}\n").as_bytes())
}

fn ids() -> io::Result<()> {
    let (uid, gid) = sys::uid_gid();
    stdout().write_all(format!("{uid} {gid}\n").as_bytes())
}

fn argv0() -> io::Result<()> {
    let name = std::env::args_os().next().unwrap_or_default();
    let mut out = stdout();
    out.write_all(name.as_bytes())?;
    out.write_all(b"\n")
}

/// Spawns N grandchildren (`pt sleep SECS`) that inherit stdout and stderr
/// (stdin is /dev/null, as for a background job of a non-interactive shell),
/// prints their pids, and never waits for them.
fn grandchild(args: &[OsString]) -> io::Result<()> {
    let (mut positional, mut hold) = (Vec::new(), None);
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        if a == "--hold" {
            let Some(secs) = iter.next() else {
                usage("--hold needs SECS2")
            };
            hold = Some(parse_secs(secs));
        } else {
            positional.push(a);
        }
    }
    let (secs, n) = match positional[..] {
        [secs] => (secs, 1),
        [secs, n] => (secs, parse_num::<usize>(n, "N")),
        _ => usage("grandchild SECS [N] [--hold SECS2]"),
    };
    parse_secs(secs); // validate before spawning anything
    let exe = std::env::current_exe()?;
    let mut pids = String::new();
    for _ in 0..n {
        let child = Command::new(&exe)
            .arg("sleep")
            .arg(secs)
            .stdin(Stdio::null())
            .spawn()?;
        pids += &format!("{}\n", child.id());
        // Dropping a `Child` neither waits for nor kills it.
    }
    stdout().write_all(pids.as_bytes())?;
    if let Some(hold) = hold {
        std::thread::sleep(hold);
    }
    Ok(())
}

/// Starts `pt sleep SECS` in a new session (`setsid`) or a new group
/// (`setpgid(0, 0)`), as `setsid(1)`, coreutils `timeout` and daemons do.
fn escape(args: &[OsString]) -> io::Result<()> {
    let (how, secs) = match args {
        [how, secs] => (how, secs),
        // Wait for end of file on stdin first: the run that started us has
        // finished setting up (moved us into its cgroup, say).
        [how, secs, flag] if flag == "--after-eof" => {
            let mut buf = vec![0u8; CHUNK];
            while read_chunk(&mut stdin(), &mut buf)? > 0 {}
            (how, secs)
        }
        _ => usage("escape HOW SECS [--after-eof]"),
    };
    let duration = parse_secs(secs);
    let exe = std::env::current_exe()?;
    let mut sleeper = Command::new(&exe);
    sleeper.arg("sleep").arg(secs).stdin(Stdio::null());
    match how.to_str() {
        Some("setsid" | "setsid-f") => {
            use std::os::unix::process::CommandExt;
            // SAFETY: `setsid` is async-signal-safe and touches no memory.
            unsafe { sleeper.pre_exec(sys::new_session) };
        }
        Some("setpgid") => {
            use std::os::unix::process::CommandExt;
            sleeper.process_group(0);
        }
        Some("double-fork") => {
            let status = Command::new(&exe)
                .arg("escape")
                .arg("setsid-f")
                .arg(secs)
                .stdin(Stdio::null())
                .status()?;
            if !status.success() {
                return Err(io::Error::other("the middle process failed"));
            }
            std::thread::sleep(duration);
            return Ok(());
        }
        _ => usage("escape HOW SECS: HOW is setsid, setpgid, setsid-f or double-fork"),
    }
    let mut child = sleeper.spawn()?;
    stdout().write_all(format!("{}\n", child.id()).as_bytes())?;
    if how != "setsid-f" {
        child.wait()?;
    }
    Ok(())
}

/// Counts deliveries of one signal (real-time signals queue, so each send
/// is one delivery).
fn count_signal(args: &[OsString]) -> io::Result<()> {
    let [sig] = args else { usage("count-signal SIG") };
    let Some(sig) = sys::parse_signal(sig) else {
        usage("count-signal SIG: unknown signal")
    };
    sys::count(sig);
    stdout().write_all(b"ready\n")?;
    while sys::counted() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Room for a second delivery, which must not come.
    std::thread::sleep(Duration::from_millis(300));
    stdout().write_all(format!("{}\n", sys::counted()).as_bytes())?;
    Ok(())
}

fn sleep_exit(args: &[OsString]) -> io::Result<()> {
    let [secs, code] = args else {
        usage("sleep-exit SECS CODE")
    };
    let code = parse_num(code, "CODE");
    std::thread::sleep(parse_secs(secs));
    process::exit(code)
}

fn append(args: &[OsString]) -> io::Result<()> {
    let [file, n, interval] = args else {
        usage("append FILE N INTERVAL_MS")
    };
    let n: u64 = parse_num(n, "N");
    let interval = Duration::from_millis(parse_num(interval, "INTERVAL_MS"));
    let job = std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "-".into());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    for i in 0..n {
        if i > 0 {
            std::thread::sleep(interval);
        }
        // One write per line: a reader never sees half a line.
        file.write_all(format!("{job} {i}\n").as_bytes())?;
    }
    Ok(())
}

fn fail_once(args: &[OsString]) -> io::Result<()> {
    let [file, code] = args else {
        usage("fail-once FILE CODE")
    };
    if std::path::Path::new(file).exists() {
        return Ok(());
    }
    File::create(file)?;
    process::exit(parse_num(code, "CODE"))
}

fn term_tree(args: &[OsString]) -> io::Result<()> {
    let [secs] = args else { usage("term-tree SECS") };
    let duration = parse_secs(secs);
    sys::count(sys::SIGTERM);
    let exe = std::env::current_exe()?;
    // Prints the pid of a sleeper in a session of its own, and exits.
    Command::new(&exe)
        .args([OsStr::new("escape"), OsStr::new("setsid-f"), secs])
        .stdin(Stdio::null())
        .status()?;
    // Orphans another sleeper (reparented to init), then sleeps itself.
    Command::new(&exe)
        .args([OsStr::new("escape"), OsStr::new("double-fork"), secs])
        .stdin(Stdio::null())
        .spawn()?;
    stdout().write_all(b"ready\n")?;
    let start = std::time::Instant::now();
    let mut told = false;
    while start.elapsed() < duration {
        if !told && sys::counted() > 0 {
            stdout().write_all(b"term\n")?;
            told = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn own_cgroup() -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    while read_chunk(&mut stdin(), &mut buf)? > 0 {}
    let own = std::fs::read("/proc/self/cgroup")?;
    stdout().write_all(&own)
}

fn ppid_wait() -> io::Result<()> {
    stdout().write_all(format!("{}\n", process::id()).as_bytes())?;
    let mut input = stdin();
    let mut buf = vec![0u8; CHUNK];
    while read_chunk(&mut input, &mut buf)? > 0 {}
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Reports a usage error and exits 2.
fn usage(msg: &str) -> ! {
    eprintln!("pt: {msg} (`pt help` lists the subcommands)");
    process::exit(2)
}

/// Unbuffered handles on fds 0/1/2 (duplicates, so no `unsafe` is needed and
/// std's line buffering of stdout never delays or splits our writes).
fn dup(fd: std::os::fd::BorrowedFd<'_>) -> File {
    match fd.try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(e) => {
            eprintln!("pt: cannot duplicate standard stream: {e}");
            process::exit(1)
        }
    }
}

fn stdin() -> File {
    dup(io::stdin().as_fd())
}

fn stdout() -> File {
    dup(io::stdout().as_fd())
}

fn stderr() -> File {
    dup(io::stderr().as_fd())
}

/// `read` that retries on EINTR; returns 0 at EOF.
fn read_chunk(input: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn join(args: &[OsString]) -> Vec<u8> {
    let parts: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    parts.join(&b' ')
}

fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// Same as `support::pattern` in `mod.rs`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

fn parse_num<T: std::str::FromStr>(arg: &OsStr, what: &str) -> T {
    match arg.to_str().and_then(|s| s.trim().parse().ok()) {
        Some(v) => v,
        None => usage(&format!("bad {what}: {arg:?}")),
    }
}

fn parse_secs(arg: &OsStr) -> Duration {
    let secs: f64 = parse_num(arg, "SECS");
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => d,
        Err(_) => usage(&format!("bad SECS: {arg:?}")),
    }
}

/// A byte count with an optional K, M or G suffix (powers of 1024). Same
/// syntax as `support::env_usize` in `mod.rs`.
fn parse_size(arg: &OsStr, what: &str) -> usize {
    let parsed = arg.to_str().and_then(|s| {
        let s = s.trim();
        let (digits, shift) = match s.as_bytes().last()? {
            b'k' | b'K' => (&s[..s.len() - 1], 10),
            b'm' | b'M' => (&s[..s.len() - 1], 20),
            b'g' | b'G' => (&s[..s.len() - 1], 30),
            _ => (s, 0),
        };
        digits.parse::<usize>().ok()?.checked_mul(1 << shift)
    });
    match parsed {
        Some(n) => n,
        None => usage(&format!(
            "bad {what}: {arg:?} (expected e.g. 100, 64K, 1M, 2G)"
        )),
    }
}

/// The only libc calls, kept in one place.
mod sys {
    use std::ffi::{OsStr, c_int, c_ulong};

    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15;
    const SIGPIPE: c_int = 13;
    const SIG_DFL: usize = 0;
    const SIG_IGN: usize = 1;
    const RLIMIT_CORE: c_int = 4;

    /// `struct rlimit` (`rlim_t` is an unsigned long on Linux and macOS).
    #[repr(C)]
    struct Rlimit {
        cur: c_ulong,
        max: c_ulong,
    }

    unsafe extern "C" {
        fn setsid() -> c_int;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        fn __libc_current_sigrtmin() -> c_int;
        fn getpid() -> c_int;
        fn getpgid(pid: c_int) -> c_int;
        fn getsid(pid: c_int) -> c_int;
        fn getuid() -> u32;
        fn getgid() -> u32;
        // `sighandler_t` is a pointer-sized value; only SIG_DFL/SIG_IGN are
        // ever passed, never a function.
        fn signal(signum: c_int, handler: usize) -> usize;
        fn raise(sig: c_int) -> c_int;
        fn setrlimit(resource: c_int, rlim: *const Rlimit) -> c_int;
    }

    /// Rust ignores SIGPIPE by default; give it back its default action so
    /// writing to a closed pipe kills us like any C program.
    pub fn restore_sigpipe() {
        // SAFETY: setting a standard disposition, no handler code involved.
        unsafe { signal(SIGPIPE, SIG_DFL) };
    }

    pub fn ignore(sig: c_int) {
        // SAFETY: setting a standard disposition, no handler code involved.
        unsafe { signal(sig, SIG_IGN) };
    }

    /// Resets `sig` to its default action (std installs a SIGSEGV/SIGBUS
    /// handler that would otherwise swallow a raised SIGSEGV, and the parent
    /// may have left a signal ignored), then raises it. For an unblocked
    /// signal in a single-threaded process, delivery happens before `raise`
    /// returns. Core dumps are disabled first so SEGV/ABRT/QUIT tests do not
    /// litter the working directory with `core` files.
    pub fn raise_default(sig: c_int) {
        let no_core = Rlimit { cur: 0, max: 0 };
        // SAFETY: `no_core` is a valid `struct rlimit` for the whole call;
        // the rest sets a standard disposition and raises. Failures (e.g.
        // SIGKILL/SIGSTOP, whose disposition cannot change) are harmless.
        unsafe {
            setrlimit(RLIMIT_CORE, &no_core);
            signal(sig, SIG_DFL);
            raise(sig);
        }
    }

    /// `setsid()` for `pre_exec`.
    pub fn new_session() -> std::io::Result<()> {
        // SAFETY: no preconditions; async-signal-safe.
        if unsafe { setsid() } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn sigrtmin() -> c_int {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: no preconditions.
        return unsafe { __libc_current_sigrtmin() };
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        return 35;
    }

    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    extern "C" fn on_signal(_sig: c_int) {
        COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Counts each delivery of `sig` from now on.
    pub fn count(sig: c_int) {
        let handler: extern "C" fn(c_int) = on_signal;
        // SAFETY: the handler only touches an atomic, which is
        // async-signal-safe.
        unsafe { signal(sig, handler as usize) };
    }

    pub fn counted() -> usize {
        COUNT.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn pid_pgid() -> (c_int, c_int) {
        // SAFETY: both calls have no preconditions and cannot fail for 0/self.
        unsafe { (getpid(), getpgid(0)) }
    }

    pub fn sid() -> c_int {
        // SAFETY: no preconditions; cannot fail for 0 (self).
        unsafe { getsid(0) }
    }

    /// The real user and group ids.
    pub fn uid_gid() -> (u32, u32) {
        // SAFETY: both calls have no preconditions and always succeed.
        unsafe { (getuid(), getgid()) }
    }

    /// A signal name (`TERM`, `SIGTERM`, `term`) or number.
    pub fn parse_signal(arg: &OsStr) -> Option<c_int> {
        let s = arg.to_str()?.trim().to_ascii_uppercase();
        if let Ok(n) = s.parse() {
            return Some(n);
        }
        let name = s.strip_prefix("SIG").unwrap_or(&s);
        let common = [
            ("HUP", 1),
            ("INT", SIGINT),
            ("QUIT", 3),
            ("ILL", 4),
            ("TRAP", 5),
            ("ABRT", 6),
            ("FPE", 8),
            ("KILL", 9),
            ("SEGV", 11),
            ("PIPE", SIGPIPE),
            ("ALRM", 14),
            ("TERM", SIGTERM),
        ];
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let specific = [
            ("BUS", 7),
            ("USR1", 10),
            ("USR2", 12),
            ("CHLD", 17),
            ("CONT", 18),
            ("STOP", 19),
            ("TSTP", 20),
        ];
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let specific = [
            ("BUS", 10),
            ("USR1", 30),
            ("USR2", 31),
            ("CHLD", 20),
            ("CONT", 19),
            ("STOP", 17),
            ("TSTP", 18),
        ];
        common
            .iter()
            .chain(specific.iter())
            .find(|(n, _)| *n == name)
            .map(|&(_, num)| num)
    }
}
