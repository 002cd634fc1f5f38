//! The crate's examples as programs, for tests that run them.
//!
//! Cargo offers no `CARGO_BIN_EXE_` paths for examples, so the first call
//! builds them all with the cargo running the tests (same profile, same
//! features, hence the same target directory and no rebuild of the library)
//! and takes each executable's path from cargo's own build messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the built example `name` (`examples/NAME.rs`).
pub fn example(name: &str) -> &'static Path {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(build_examples)
        .get(name)
        .unwrap_or_else(|| panic!("cargo built no example named {name:?}"))
}

fn build_examples() -> HashMap<String, PathBuf> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "--examples",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let features: Vec<&str> = [
        ("duct", cfg!(feature = "duct")),
        ("progress", cfg!(feature = "progress")),
        ("slurm", cfg!(feature = "slurm")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    let out = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    let messages = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo build --examples failed ({}):\n{}\n{messages}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // One JSON object a line; an example's artifact line has both fields.
    messages
        .lines()
        .filter(|line| line.contains(r#""kind":["example"]"#))
        .filter_map(|line| {
            let name = string_field(line, "name")?;
            let exe = string_field(line, "executable")?;
            Some((name.to_string(), PathBuf::from(exe)))
        })
        .collect()
}

/// The value of the first `"key":"value"` in a JSON line (values without
/// escapes only, as cargo's names and paths are here).
fn string_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}
