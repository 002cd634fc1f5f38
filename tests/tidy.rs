//! Housekeeping that a reviewer would otherwise have to remember: the README
//! opens with the two set-up commands, CI runs the README's test command, the
//! README and CI name the rust-version of Cargo.toml, and the changelog has a
//! section for the version in Cargo.toml or Unreleased.

use std::path::Path;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
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
    let ci = read(".ci/run");
    for needed in [
        "set -euo pipefail",
        "cargo fmt --all -- --check",
        "cargo clippy --all-targets",
        "-D warnings",
        "\ncargo test\n",
        "cargo doc --no-deps",
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
    let check = read(".ci/msrv.sh");
    assert!(
        check.contains(&format!("\nMSRV={msrv}\n")),
        ".ci/msrv.sh does not check Rust {msrv}"
    );
    let ci = read(".ci/run");
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
