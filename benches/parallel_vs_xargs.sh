#!/usr/bin/env bash
# Whole processes: the `parallel` example (built on the pool) against
# `xargs -P2 -n1` and, where installed, GNU parallel and rust-parallel, each
# running `seq N | ... /bin/true` with 2 jobs at once. Tools that are not
# installed are skipped.
#
#   benches/parallel_vs_xargs.sh
#
# Environment: PROCESSION_XARGS_JOBS (default 2000) jobs per run,
# PROCESSION_BENCH_RUNS (default 5) runs per case, interleaved round-robin;
# the median is reported, with its ratio to xargs.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${PROCESSION_XARGS_JOBS:-2000}"
runs="${PROCESSION_BENCH_RUNS:-5}"
target="${CARGO_TARGET_DIR:-target}"

cargo build --release --example parallel
par="$target/release/examples/parallel"

names=("xargs -P2 -n1")
cmds=("xargs -P2 -n1 /bin/true")
names+=("procession parallel -j2 -u")
cmds+=("$par -j2 -u /bin/true")
names+=("procession parallel -j2 (grouped)")
cmds+=("$par -j2 /bin/true")
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q "GNU parallel"; then
    names+=("GNU parallel -j2")
    cmds+=("parallel -j2 /bin/true")
else
    echo "skipped: GNU parallel (not installed)"
fi
if command -v rust-parallel >/dev/null; then
    names+=("rust-parallel -j2")
    cmds+=("rust-parallel -j2 /bin/true")
else
    echo "skipped: rust-parallel (not installed)"
fi

# Seconds (with nanoseconds) that `seq $jobs | $1` takes.
time_one() {
    local start end
    start=$(date +%s%N)
    seq "$jobs" | eval "$1" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000))
}

declare -A samples
for ((r = 0; r < runs; r++)); do
    for i in "${!cmds[@]}"; do
        samples[$i]+="$(time_one "${cmds[$i]}") "
    done
done

median() {
    tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

echo
echo "seq $jobs | ... /bin/true, 2 at once, median of $runs runs"
printf '%-40s %12s %8s\n' "case" "median" "ratio"
base=$(median "${samples[0]}")
for i in "${!cmds[@]}"; do
    m=$(median "${samples[$i]}")
    printf '%-40s %10.3fs %7.3fx\n' "${names[$i]}" "$(awk "BEGIN {print $m / 1e6}")" \
        "$(awk "BEGIN {print $m / $base}")"
done
