#!/usr/bin/env bash
# Whole processes: the `parallel` example (built on the pool) against
# `xargs -P2 -n1`, a raw C loop of `posix_spawn` + `waitpid` built here in
# the same run (the floor; skipped without a C compiler) and, where
# installed, GNU parallel and rust-parallel, each running
# `seq N | ... /bin/true` with 2 jobs at once. Tools that are not installed
# are skipped.
#
# P1 goals (issue 16): grouped output (the default) at most 1.03x
# ungrouped (`-u`), and at most 1.10x the C loop.
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

# The floor: read lines, run `PROG ARGS... LINE` for each, J at once.
cloop="$target/release/cloop-posix-spawn"
cc_cmd="${CC:-cc}"
if command -v "$cc_cmd" >/dev/null; then
    cat >"$target/cloop-posix-spawn.c" <<'EOF'
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
    int jobs = atoi(argv[1]), running = 0, failed = 0;
    char **args = calloc(argc, sizeof *args);
    for (int i = 2; i < argc; i++) args[i - 2] = argv[i];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[n - 1] = 0;
        if (running == jobs) {
            int st;
            if (wait(&st) > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) failed = 1;
            running--;
        }
        args[argc - 2] = line;
        pid_t pid;
        if (posix_spawn(&pid, args[0], NULL, NULL, args, environ) != 0) return 2;
        running++;
    }
    int st;
    while (running-- > 0)
        if (wait(&st) > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) failed = 1;
    return failed;
}
EOF
    "$cc_cmd" -O2 -o "$cloop" "$target/cloop-posix-spawn.c"
else
    cloop=""
    echo "skipped: the C posix_spawn loop (no C compiler)"
fi

names=("xargs -P2 -n1")
cmds=("xargs -P2 -n1 /bin/true")
if [[ -n "$cloop" ]]; then
    names+=("C posix_spawn loop, 2 at once")
    cmds+=("$cloop 2 /bin/true")
fi
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

# Microseconds of wall time that `seq $jobs | $1` takes, and of CPU time
# (user + system) that it and every process it started used. On a busy
# machine the CPU time is the steadier figure: wall time there depends on
# the scheduler's share, which favours a process with more threads.
time_one() {
    local start end cpu
    start=$(date +%s%N)
    cpu=$({
        seq "$jobs" | eval "$1" >/dev/null
        times
    } | awk 'NR == 2 {
        split($0, t, /[ms]+/); print int(((t[1] * 60 + t[2]) + (t[3] * 60 + t[4])) * 1e6) }')
    end=$(date +%s%N)
    echo "$(((end - start) / 1000)) $cpu"
}

declare -A wall cpu
for ((r = 0; r < runs; r++)); do
    for i in "${!cmds[@]}"; do
        read -r w c <<<"$(time_one "${cmds[$i]}")"
        wall[$i]+="$w "
        cpu[$i]+="$c "
    done
done

median() {
    tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

echo
echo "seq $jobs | ... /bin/true, 2 at once, median of $runs runs"
printf '%-40s %10s %8s %10s %8s\n' "case" "wall" "ratio" "cpu" "ratio"
base=$(median "${wall[0]}")
cbase=$(median "${cpu[0]}")
declare -A mw mc
for i in "${!cmds[@]}"; do
    m=$(median "${wall[$i]}")
    c=$(median "${cpu[$i]}")
    printf '%-40s %9.3fs %7.3fx %9.3fs %7.3fx\n' "${names[$i]}" "$(awk "BEGIN {print $m / 1e6}")" \
        "$(awk "BEGIN {print $m / $base}")" "$(awk "BEGIN {print $c / 1e6}")" \
        "$(awk "BEGIN {print $c / $cbase}")"
    mw["${names[$i]}"]=$m
    mc["${names[$i]}"]=$c
done

goal() { # NAME VALUE BASE LIMIT
    awk -v name="$1" -v v="$2" -v b="$3" -v limit="$4" 'BEGIN {
        r = v / b; printf "goal: %s <= %.2fx: %.3fx, %s\n", name, limit, r, (r <= limit ? "met" : "NOT met") }'
}
u="procession parallel -j2 -u"
g="procession parallel -j2 (grouped)"
f="C posix_spawn loop, 2 at once"
echo
for kind in wall cpu; do
    if [[ $kind == wall ]]; then
        G=${mw[$g]} U=${mw[$u]} F=${mw[$f]:-}
    else
        G=${mc[$g]} U=${mc[$u]} F=${mc[$f]:-}
    fi
    goal "$kind: grouped / ungrouped" "$G" "$U" 1.03
    if [[ -n "$F" ]]; then
        goal "$kind: grouped / C posix_spawn loop" "$G" "$F" 1.10
        goal "$kind: ungrouped / C posix_spawn loop" "$U" "$F" 1.10
    fi
done
