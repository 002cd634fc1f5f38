#!/usr/bin/env bash
# MSRV check: the rust-version in Cargo.toml is true for users and for
# contributors. With Debian's build of that Rust (rustc-web and cargo-web),
# unpacked into target/ (nothing is installed system-wide, and rustup's
# toolchains are untouched), it
#   1. builds the library with default features and with all features,
#   2. runs the README's `cargo test` (unit, integration and doc tests,
#      examples built), dev-dependencies included, with the committed
#      Cargo.lock.
# Needs apt-get (Debian 12) the first time; later runs reuse the toolchain.
# Run from anywhere: `bash .ci/msrv.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's package of the MSRV. Change both lines together with rust-version.
MSRV=1.85
DEB_VERSION=1.85.0+dfsg3-1~deb12u3

declared=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
if [ "$declared" != "$MSRV" ]; then
  echo "error: Cargo.toml declares rust-version \"$declared\" but .ci/msrv.sh checks Rust $MSRV;" \
    "update MSRV and DEB_VERSION in .ci/msrv.sh" >&2
  exit 1
fi

TARGET=target/msrv
TC=$TARGET/toolchain-$DEB_VERSION
if [ ! -x "$TC/usr/bin/cargo" ]; then
  echo "-- fetching Debian's Rust $DEB_VERSION (rustc-web, cargo-web) into $TC"
  apt-get update -qq
  rm -rf "$TC.tmp" && mkdir -p "$TC.tmp/debs"
  (
    cd "$TC.tmp/debs"
    # libllvm19, libpcre3 and libhttp-parser2.9 are needed by rustc and cargo
    # and are not on every machine.
    apt-get download -q=2 "rustc-web=$DEB_VERSION" "cargo-web=$DEB_VERSION" \
      "libstd-rust-web-dev=$DEB_VERSION" "libstd-rust-web-$MSRV=$DEB_VERSION" \
      libllvm19 libpcre3 libhttp-parser2.9
    for deb in *.deb; do dpkg -x "$deb" ..; done
  )
  rm -rf "$TC.tmp/debs" && mv "$TC.tmp" "$TC"
fi
TC=$(cd "$TC" && pwd)
BIN=$TC/usr/bin
export LD_LIBRARY_PATH=$TC/usr/lib/x86_64-linux-gnu:$TC/lib/x86_64-linux-gnu
# Exported, so that what the tests build themselves (the examples, with the
# cargo that runs them, and the helper program `pt`, with $RUSTC) uses this
# Rust and this target directory too.
export RUSTC=$BIN/rustc RUSTDOC=$BIN/rustdoc
export CARGO_TARGET_DIR=$PWD/$TARGET
if ! "$BIN/rustc" -V >/dev/null || ! "$BIN/cargo" -V >/dev/null; then
  echo "error: Debian's Rust $DEB_VERSION does not start; missing libraries:" >&2
  ldd "$BIN/rustc" "$BIN/cargo" | grep "not found" >&2 || true
  exit 1
fi
"$BIN/cargo" -V
"$BIN/rustc" -V
msrv_cargo() { "$BIN/cargo" "$@" --locked; }

echo "-- MSRV $MSRV: the library builds (default features)"
msrv_cargo build --lib
echo "-- MSRV $MSRV: the library builds (all features)"
msrv_cargo build --lib --all-features
echo "-- MSRV $MSRV: cargo test (the README's test command)"
msrv_cargo test
echo "-- MSRV $MSRV: ok"
