//! The article's examples print the article's lines: each example is run and
//! its stdout compared, line by line, with the shape of the article's output
//! (pids and timings aside). What procession adds comes after a blank line,
//! in lines starting with `#`. The tour keeps its layout whatever the
//! errors it prints.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

/// Runs an example; checks it exits 0 with nothing on stderr (the whole
/// transcript is on stdout) and returns its stdout's lines.
fn run(name: &str) -> Vec<String> {
    let out = Command::new(support::examples::example(name))
        .output()
        .unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name}: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "{name} wrote to stderr:\n{stderr}");
    stdout.lines().map(String::from).collect()
}

/// Matches `line` against `pattern`, where `{n}` stands for a whole number
/// (a pid, a task number), `{t}` for a number with a fraction (`0.56`) and
/// `{d}` for a `Duration` printed with `{:?}` (`2.9ms`); returns what each
/// placeholder matched, in order.
fn shape<'a>(pattern: &str, line: &'a str) -> Option<Vec<&'a str>> {
    let Some(open) = pattern.find('{') else {
        return (pattern == line).then(Vec::new);
    };
    let line = line.strip_prefix(&pattern[..open])?;
    let close = open + pattern[open..].find('}')?;
    let rest = &pattern[close + 1..];
    let allowed: fn(char) -> bool = match &pattern[open + 1..close] {
        "n" => |c| c.is_ascii_digit(),
        "t" => |c| c.is_ascii_digit() || c == '.',
        "d" => |c| c.is_ascii_digit() || ".nµms".contains(c),
        other => panic!("unknown placeholder {{{other}}}"),
    };
    let longest = line.find(|c| !allowed(c)).unwrap_or(line.len());
    // The longest match first, then shorter ones: `{d}.` must leave the dot.
    (1..=longest)
        .rev()
        .filter(|&len| line.is_char_boundary(len))
        .find_map(|len| {
            let mut found = vec![&line[..len]];
            found.extend(shape(rest, &line[len..])?);
            Some(found)
        })
}

/// Checks `lines` against `patterns` one to one and returns every
/// placeholder's match, line by line.
fn shapes<'a>(name: &str, lines: &'a [String], patterns: &[&str]) -> Vec<Vec<&'a str>> {
    assert_eq!(
        lines.len(),
        patterns.len(),
        "{name}: {} lines where the article has {}:\n{}",
        lines.len(),
        patterns.len(),
        lines.join("\n")
    );
    lines
        .iter()
        .zip(patterns)
        .map(|(line, pattern)| {
            shape(pattern, line)
                .unwrap_or_else(|| panic!("{name}: {line:?} does not have the shape {pattern:?}"))
        })
        .collect()
}

#[test]
fn the_shape_matcher_tells_lines_apart() {
    assert_eq!(shape("pid {n}.", "pid 42."), Some(vec!["42"]));
    assert_eq!(shape("after {d}.", "after 2.9ms."), Some(vec!["2.9ms"]));
    assert_eq!(shape("run {t} s", "run 0.56 s"), Some(vec!["0.56"]));
    assert_eq!(shape("pid {n}.", "pid ."), None);
    assert_eq!(shape("pid {n}.", "pid 42"), None);
    assert_eq!(shape("Put A queue...", "Put A to queue..."), None);
}

#[test]
fn fork_prints_the_articles_lines() {
    let lines = run("fork");
    let found = shapes(
        "fork",
        &lines,
        &[
            "Process ({n}) start...",
            "I ({n}) just created a child process ({n}).",
            "I am child process ({n}) and my parent is {n}.",
        ],
    );
    let me = found[0][0];
    assert_eq!(found[1], [me, found[2][0]], "{lines:?}");
    assert_eq!(found[2][1], me, "{lines:?}");
}

#[test]
fn process_prints_the_articles_lines() {
    let lines = run("process");
    let found = shapes(
        "process",
        &lines,
        &[
            "parent process {n}",
            "Child process will start",
            "Run child process test ({n})",
            "Child process end.",
            "",
            "# procession: the child {n} exited with code 0 after {d}.",
        ],
    );
    assert_eq!(found[2][0], found[5][0], "{lines:?}");
}

#[test]
fn pool_prints_the_articles_lines() {
    let lines = run("pool");
    let n = lines.len();
    assert_eq!(n, 15, "{lines:?}");
    shapes(
        "pool",
        &lines[..2],
        &["Parent process {n}.", "Waiting for all subprocess done..."],
    );
    shapes(
        "pool",
        &lines[12..],
        &[
            "All subprocess done",
            "",
            "# procession: 5 tasks, 4 at a time: 5 succeeded, 0 failed.",
        ],
    );
    // The tasks' lines come in the order they happen: each task's "Run"
    // before its "Task ... run", and task 4 only once another has ended.
    let mut started = BTreeMap::new();
    let mut ended = BTreeMap::new();
    for (i, line) in lines[2..12].iter().enumerate() {
        if let Some(found) = shape("Run task {n} ({n})...", line) {
            assert!(started.insert(found[0], i).is_none(), "{lines:?}");
        } else if let Some(found) = shape("Task {n} run {t} seconds.", line) {
            assert!(ended.insert(found[0], i).is_none(), "{lines:?}");
        } else {
            panic!("pool: {line:?} is not a task's line");
        }
    }
    let tasks = ["0", "1", "2", "3", "4"];
    assert_eq!(
        started.keys().copied().collect::<Vec<_>>(),
        tasks,
        "{lines:?}"
    );
    assert_eq!(
        ended.keys().copied().collect::<Vec<_>>(),
        tasks,
        "{lines:?}"
    );
    for task in tasks {
        assert!(started[task] < ended[task], "task {task}: {lines:?}");
    }
    let first_end = ended.values().min().copied();
    assert!(
        Some(started["4"]) > first_end,
        "task 4 ran as a fifth: {lines:?}"
    );
}

#[test]
fn queue_prints_the_articles_lines_on_stdout() {
    let lines = run("queue");
    assert_eq!(lines.len(), 10, "{lines:?}");
    shapes(
        "queue",
        &lines[..2],
        &["Process to read : {n}", "Process to write : {n}"],
    );
    shapes(
        "queue",
        &lines[8..],
        &[
            "",
            "# procession: the reader was stopped by terminate(): killed by signal 15 (SIGTERM).",
        ],
    );
    // Values are put and got in order, each got after it was put (the
    // article's exact interleaving also needs the reader to be quick).
    let at = |wanted: &str| {
        lines
            .iter()
            .position(|line| line == wanted)
            .unwrap_or_else(|| panic!("queue: no {wanted:?} in {lines:?}"))
    };
    let mut last = 1;
    for value in ["A", "B", "C"] {
        let put = at(&format!("Put {value} queue..."));
        let got = at(&format!("Get {value} from queue."));
        assert!(last < put && put < got, "{value}: {lines:?}");
        last = put;
    }
}

#[test]
fn the_tour_keeps_its_layout() {
    let lines = run("tour");
    // Every line is a header, an explanation, a command, a result (or a
    // result's continuation) or the closing line: an error of several lines
    // must not break out of it.
    for line in &lines {
        assert!(
            line.is_empty()
                || ["== ", "   ", "$ ", "-> ", "Tour finished in "]
                    .iter()
                    .any(|start| line.starts_with(start)),
            "tour: {line:?} breaks the layout"
        );
    }
    let has = |wanted: &str| lines.iter().any(|line| line == wanted);
    assert!(has("   | fatal: config.toml not found"), "{lines:#?}");
    assert!(has(r#"   (stdin: "pear\napple\nfig\n")"#), "{lines:#?}");
    assert!(
        has(r#"-> halted (Soon) by "soon,fail=1": 1 finished, 1 failed, 0 stopped, 2 skipped"#),
        "{lines:#?}"
    );
}

#[test]
fn async_runs_three_at_once_a_pipeline_a_timeout_and_streams() {
    let lines = run("async");
    shapes(
        "async",
        &lines,
        &[
            "one two three",
            "# all three in {t} s",
            "a",
            "b",
            "# 3 stages, all exited 0",
            "# gave up after 100 ms",
            "1 ERROR disk full (after {t} s)",
            "2 ERROR disk full (after {t} s)",
            "3 ERROR disk full (after {t} s)",
            "# took 2 lines of yes, then dropped it: killed",
            "# wc counted 10000 lines",
        ],
    );
}
