#!/usr/bin/env bash
# Fuzz the Stripe guest's two input parsers (README: "Fuzzing"): the DSL parser and the page decoder,
# RUNS inputs each (default 1,000,000), one target after the other, then print each target's accepted
# share. Fails on any crash (libFuzzer leaves the input in fuzz/artifacts/<target>/) and when fewer than
# MIN_SHARE percent of a target's inputs were accepted (default 10: a fuzzer that only feeds the parsers
# garbage tests their refusals and nothing else).
#
#   fuzz/run.sh            # 1,000,000 inputs per target (about 4 + 13 minutes on one core)
#   fuzz/run.sh 20000      # what CI runs
#
# Needs rustup (a nightly toolchain is installed if missing) and cargo-fuzz (installed if missing).
# The corpus grows in fuzz/corpus/<target>/ (git-ignored) from the committed seeds in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-1000000}"
MIN_SHARE="${MIN_SHARE:-10}"
case "$RUNS" in
'' | *[!0-9]*)
    echo "usage: fuzz/run.sh [RUNS]  (RUNS: a whole number of inputs per target, got '$RUNS')" >&2
    exit 2
    ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Instrumented nightly builds stay out of the stable workspace's target directory (different compiler
# and flags), next to it when CI shares one across clones.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}"
else
    FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-fuzz/target}"
fi

LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
SUMMARY=()

for spec in dsl_parse:dsl page_decode:page; do
    target="${spec%%:*}"
    dict="fuzz/${spec##*:}.dict"
    mkdir -p "fuzz/corpus/$target"
    echo "== fuzz $target: $RUNS inputs"
    start=$(date +%s)
    # One process, one core (the default without -jobs/-workers). The share line comes from the
    # target's exit hook (fuzz/src/lib.rs).
    if ! cargo +nightly fuzz run --target-dir "$FUZZ_TARGET_DIR" "$target" \
        "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -runs="$RUNS" -dict="$dict" -print_final_stats=1 >"$LOGS/$target.log" 2>&1; then
        grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)|NEW_FUNC' "$LOGS/$target.log" | tail -60 >&2
        echo "fuzz $target FAILED: the crashing input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    seconds=$(($(date +%s) - start))
    share=$(grep -E '^fuzz share: ' "$LOGS/$target.log" | tail -1)
    if [ -z "$share" ]; then
        tail -40 "$LOGS/$target.log" >&2
        echo "fuzz $target: no 'fuzz share:' line in libFuzzer's output" >&2
        exit 1
    fi
    execs=$(grep -E '^stat::average_exec_per_sec:' "$LOGS/$target.log" | awk '{print $2}')
    percent=$(echo "$share" | sed -E 's/.*accepted \(([0-9]+)\.[0-9]%\).*/\1/')
    line="${share#fuzz share: }; ${execs:-?} execs/s; ${seconds}s wall (build included); 0 crashes"
    echo "$line"
    SUMMARY+=("$line")
    if [ "$percent" -lt "$MIN_SHARE" ]; then
        echo "fuzz $target: only $percent% of inputs were accepted (MIN_SHARE=$MIN_SHARE)" >&2
        exit 1
    fi
done

echo "== fuzz summary"
printf '%s\n' "${SUMMARY[@]}"
