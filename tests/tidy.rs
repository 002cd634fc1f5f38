//! Housekeeping that a reviewer would otherwise have to remember: the README
//! opens with the two set-up commands, CI runs the README's test command, the
//! README and CI name the rust-version of Cargo.toml, every README code block
//! names its language, the manifest has what crates.io and docs.rs use, and
//! the changelog has a section for the version in Cargo.toml or Unreleased;
//! and the pool's files form no import cycle, are named in its module map,
//! and say why where they are long.
//!
//! The published crate leaves out `.ci/` (see `exclude` in Cargo.toml), so in
//! an unpacked package the checks of the CI scripts are skipped, with a
//! message; in the repository a missing script fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
}

/// A file of `.ci/`, or `None` (after saying so) in a packaged crate, which
/// has no `.ci/` but has the `Cargo.toml.orig` that `cargo package` writes.
fn read_ci(name: &str) -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join(name).exists() && root.join("Cargo.toml.orig").exists() {
        eprintln!("tidy: skipping the checks of {name}: the packaged crate leaves out .ci/");
        return None;
    }
    Some(read(name))
}

/// The commands in the README's first code block.
fn first_code_block(readme: &str) -> Vec<String> {
    readme
        .split("```")
        .nth(1)
        .expect("the README has a code block")
        .lines()
        .skip(1) // the language tag line
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn readme_starts_with_the_two_setup_commands() {
    let readme = read("README.md");
    assert_eq!(
        first_code_block(&readme),
        ["cargo run --example tour", "cargo test"],
        "the README's first code block is the whole set-up"
    );
}

#[test]
fn ci_runs_the_readme_test_command_and_the_checks() {
    let Some(ci) = read_ci(".ci/run") else {
        return;
    };
    for needed in [
        "set -euo pipefail",
        "cargo fmt --all -- --check",
        "cargo clippy --all-targets",
        "-D warnings",
        "\ncargo test\n",
        "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --all-features\n",
        "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps\n",
        "cargo package --locked",
        "cargo test --locked",
        "cargo bench --no-run",
        "RUSTFLAGS=\"--cfg procession_portable\" RUSTDOCFLAGS=\"--cfg procession_portable\"",
        "bash .ci/xcheck.sh",
    ] {
        assert!(ci.contains(needed), ".ci/run lacks {needed:?}");
    }
}

/// Runs of whitespace (line breaks included) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn readme_and_ci_promise_the_rust_version_of_cargo_toml() {
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    let readme = one_line(&read("README.md"));
    for promise in [
        format!("a fresh Linux machine with Rust {msrv} or later"),
        format!("Minimum supported Rust version: {msrv}"),
    ] {
        assert!(readme.contains(&promise), "the README lacks {promise:?}");
    }
    let (Some(check), Some(ci)) = (read_ci(".ci/msrv.sh"), read_ci(".ci/run")) else {
        return;
    };
    assert!(
        check.contains(&format!("\nMSRV={msrv}\n")),
        ".ci/msrv.sh does not check Rust {msrv}"
    );
    assert!(
        ci.contains("bash .ci/msrv.sh"),
        ".ci/run lacks the MSRV step"
    );
}

#[test]
fn changelog_has_a_section_for_this_version() {
    let changelog = read("CHANGELOG.md");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        changelog.contains("## [Unreleased]") || changelog.contains(&format!("## [{version}]")),
        "CHANGELOG.md needs an Unreleased section or one for {version}"
    );
}

#[test]
fn readme_code_blocks_name_their_language() {
    // rustdoc compiles an untagged block as Rust (the README's blocks are
    // doc tests, see `ReadmeDoctests` in src/lib.rs), so shell and text
    // blocks must say what they are.
    let readme = read("README.md");
    let fences: Vec<(usize, &str)> = readme
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("```"))
        .collect();
    assert!(
        fences.len() % 2 == 0,
        "the README has an unclosed code block"
    );
    for (n, opening) in fences.iter().step_by(2) {
        let tag = opening.trim_start().trim_start_matches('`').trim();
        assert!(
            !tag.is_empty(),
            "README.md:{}: a code block without a language",
            n + 1
        );
    }
}

/// The quoted strings of the list `key = [...]` in a manifest (ours, or the
/// one `cargo package` writes, which puts one item a line).
fn manifest_list(manifest: &str, key: &str) -> Vec<String> {
    let start = manifest
        .find(&format!("\n{key} = ["))
        .unwrap_or_else(|| panic!("Cargo.toml has no {key}"));
    let list = &manifest[start..];
    let list = &list[..list.find(']').expect("the list ends")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn manifest_has_what_crates_io_and_docs_rs_use() {
    let manifest = read("Cargo.toml");
    // Slugs from crates.io's list of categories that could fit this crate;
    // anything else is either ignored by crates.io or does not describe us.
    let fitting = [
        "os",
        "os::linux-apis",
        "os::unix-apis",
        "os::macos-apis",
        "os::freebsd-apis",
        "concurrency",
        "asynchronous",
        "command-line-interface",
    ];
    let categories = manifest_list(&manifest, "categories");
    assert!((1..=5).contains(&categories.len()), "{categories:?}");
    for category in &categories {
        assert!(
            fitting.contains(&category.as_str()),
            "category {category:?}"
        );
    }
    let keywords = manifest_list(&manifest, "keywords");
    assert!((1..=5).contains(&keywords.len()), "{keywords:?}");
    for keyword in &keywords {
        let valid = keyword.len() <= 20
            && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
            && keyword
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        assert!(
            valid,
            "keyword {keyword:?} is not a valid crates.io keyword"
        );
    }
    // docs.rs builds with every feature and `--cfg docsrs`, under which
    // lib.rs turns on `doc_cfg` so each feature-gated item says so.
    let docs_rs = &manifest[manifest
        .find("[package.metadata.docs.rs]")
        .expect("Cargo.toml has [package.metadata.docs.rs]")..];
    let docs_rs = docs_rs[1..].split("\n[").next().unwrap_or_default();
    assert!(docs_rs.contains("all-features = true"), "{docs_rs}");
    assert!(
        docs_rs.contains(r#""--cfg""#) && docs_rs.contains(r#""docsrs""#),
        "{docs_rs}"
    );
    let lib = read("src/lib.rs");
    assert!(lib.contains("#![cfg_attr(docsrs, feature(doc_cfg))]"));
    let features = &manifest[manifest
        .find("\n[features]")
        .expect("Cargo.toml has features")..];
    let features = features[1..].split("\n[").next().unwrap_or_default();
    let listed = lib
        .split("# Cargo features")
        .nth(1)
        .expect("lib.rs lists the cargo features");
    for line in features.lines().skip(1) {
        let Some((name, _)) = line.split_once(" = ") else {
            continue;
        };
        if !line.starts_with('#') && name != "default" {
            let item = format!("//! - `{name}`: ");
            assert!(
                listed.contains(&item),
                "lib.rs does not list the feature {name}"
            );
        }
    }
}

/// The `.rs` files of a folder of the crate, by name without `.rs`, with
/// their text.
fn rust_files(folder: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {folder}: {e}"));
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let name = path.file_stem().expect("a file name").to_string_lossy();
            let text = std::fs::read_to_string(&path).expect("a source file");
            (name.into_owned(), text)
        })
        .collect()
}

/// A file's code before its unit tests (whose `super` is the file itself).
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text)
}

/// The sibling modules a pool file names: `super::NAME` and
/// `crate::pool::NAME` (in `use` lines or in paths), where `NAME` is one of
/// `siblings`.
fn sibling_imports(text: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in ["super::", "crate::pool::"] {
        for (at, _) in without_tests(text).match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if siblings.contains(&name) {
                names.insert(name);
            }
            // `super::{a, b}`.
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(0)];
                for item in group.split(',') {
                    let item = item.trim().split("::").next().unwrap_or_default();
                    if siblings.contains(item) {
                        names.insert(item.to_string());
                    }
                }
            }
        }
    }
    names
}

/// A cycle in `graph`, as the files along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        graph
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let siblings: BTreeSet<String> = ["batch", "job", "policy"].map(String::from).into();
    let text = "use super::batch::Batch;\nuse super::{job::Done, policy};\nuse super::Counts;\n\
                #[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
    assert_eq!(
        sibling_imports(text, &siblings),
        ["batch", "job", "policy"].map(String::from).into()
    );
}

#[test]
fn the_pool_has_no_import_cycle() {
    let files = rust_files("src/pool");
    let siblings: BTreeSet<String> = files.keys().filter(|n| *n != "mod").cloned().collect();
    // `mod.rs` stands above every file it declares.
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .filter(|(name, _)| *name != "mod")
        .map(|(name, text)| (name.clone(), sibling_imports(text, &siblings)))
        .collect();
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "src/pool has an import cycle: {} (each file imports the next)",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_pool_module_map_names_every_file() {
    let files = rust_files("src/pool");
    let map: String = files["mod"]
        .lines()
        .take_while(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    for name in files.keys() {
        assert!(
            map.contains(&format!("`{name}.rs`")),
            "the module map at the top of src/pool/mod.rs does not name {name}.rs"
        );
    }
    for (at, _) in map.match_indices(".rs`") {
        let named = map[..at].rsplit('`').next().unwrap_or_default();
        assert!(
            files.contains_key(named),
            "the module map of src/pool/mod.rs names {named}.rs, which does not exist"
        );
    }
}

/// The most lines a source file has without saying why it needs more.
const LONG_FILE: usize = 700;

/// The folders whose files are held to [`LONG_FILE`].
const HELD_TO_LENGTH: &[&str] = &[
    "src",
    "src/command",
    "src/error",
    "src/pool",
    "src/run",
    "src/sys",
];

#[test]
fn long_files_say_why_at_their_top() {
    for folder in HELD_TO_LENGTH {
        for (name, text) in rust_files(folder) {
            let lines = text.lines().count();
            let header: String = text
                .lines()
                .take_while(|line| line.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                lines <= LONG_FILE || header.contains("Why this file is long:"),
                "{folder}/{name}.rs has {lines} lines (over {LONG_FILE}) and its top does not \
                 say why (a paragraph \"Why this file is long: ...\" in its //! docs)"
            );
        }
    }
}
