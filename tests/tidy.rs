//! Housekeeping that a reviewer would otherwise have to remember: the README
//! opens with the two set-up commands, CI runs the README's test command, the
//! README and CI name the rust-version of Cargo.toml, every README code block
//! names its language, the manifest has what crates.io and docs.rs use, and
//! the changelog has a section for the version in Cargo.toml or Unreleased.
//!
//! The published crate leaves out `.ci/` (see `exclude` in Cargo.toml), so in
//! an unpacked package the checks of the CI scripts are skipped, with a
//! message; in the repository a missing script fails.

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
