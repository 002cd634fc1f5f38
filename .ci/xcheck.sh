#!/usr/bin/env bash
# Type-check the crate (library, tests, benches and examples, all features)
# for macOS (x86_64, aarch64) and FreeBSD. No rustup target is needed: it
# uses Debian's rustc-web 1.96 and its std source, building core/std from
# source (-Zbuild-std). Needs root only for apt-get update; installs nothing
# system-wide (the packages are unpacked with dpkg -x into $TC). Cold: about
# 4 minutes on two cores; warm: seconds.
#
# Only a type-check: the code for these systems that can also run on Linux
# is tested by the portable-mode step of .ci/run (see README, "Platform").
set -euo pipefail
TC=${TC:-${TMPDIR:-/tmp}/procession-toolchains/1.96}   # where the toolchain is unpacked
REPO=${1:-$PWD}
V=1.96.0+dfsg1-1~deb12u2
if [ ! -x "$TC/usr/bin/cargo" ]; then
  apt-get update -qq
  mkdir -p "$TC/debs" && cd "$TC/debs"
  apt-get download -q=2 rustc-web=$V cargo-web=$V rust-web-src=$V libstd-rust-web-dev=$V \
    libstd-rust-web-1.96=$V libllvm22 libgit2-1.5 libhttp-parser2.9 libmbedcrypto7 libmbedtls14 libmbedx509-1
  for f in *.deb; do dpkg -x "$f" "$TC"; done
fi
L=$TC/usr/lib/x86_64-linux-gnu; B=$TC/usr/bin
cd "$REPO"; rc=0
for t in x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd; do
  echo "== cargo check --all-targets --all-features --target $t"
  env -u RUSTFLAGS LD_LIBRARY_PATH=$L RUSTC=$B/rustc RUSTDOC=$B/rustdoc RUSTC_BOOTSTRAP=1 \
    "$B/cargo" check --all-targets --all-features -Zbuild-std=std,panic_abort \
    --target "$t" --target-dir target/xcheck || rc=1
done
exit $rc
