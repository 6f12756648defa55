#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each for FUZZ_SECONDS, seeded with the corpus in
# Corpus/<target>. New inputs go to a temporary directory, so the repository is never modified, except with
# --merge, which minimises the corpus and what this run found into Corpus/<target> (for a person to commit).
# Exits non-zero on any crash, invariant failure, timeout or out-of-memory, after printing the input.
#
#   Tests/Fuzz/run.sh [--merge] [TARGET...]      FUZZ_SECONDS=30 (per target), FUZZ_WORK=<dir to keep the run in>
set -euo pipefail
cd "$(dirname "$0")"
# SwiftPM recompiles when these differ: without this `make fuzz` and a direct run.sh would rebuild all for each other.
unset MAKEFLAGS MFLAGS MAKELEVEL

SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
merge=no
targets=()
for arg in "$@"; do
    case "$arg" in
        --merge) merge=yes ;;
        -*) echo "usage: $0 [--merge] [FuzzSniff|FuzzDNS|FuzzRegistryFile|FuzzConfig|FuzzHTTP1|FuzzHTTPForward|FuzzHTTP2Forward ...]" >&2; exit 2 ;;
        *) targets+=("$arg") ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then targets=(FuzzSniff FuzzDNS FuzzRegistryFile FuzzConfig FuzzHTTP1 FuzzHTTPForward FuzzHTTP2Forward); fi

# The largest input worth trying per target: what the sniff handler buffers at most (a whole TLS record), a large
# EDNS message, a generous config or registry file.
max_len() {
    case "$1" in
        FuzzSniff) echo 18437 ;;
        *) echo 4096 ;;
    esac
}

# SwiftPM's --sanitize options instrument the C targets too (libyaml, NIO's shims), but they reach swiftc as two
# -sanitize= options of which it keeps only the last: without the combined one the Swift code gets no coverage.
# -enable-testing: the fuzzers reach internal parsers through @testable import, in a release (-O) build.
build_flags=(-c release --sanitize=fuzzer --sanitize=address -Xswiftc "-sanitize=fuzzer,address" -Xswiftc -enable-testing)
echo "== building ${targets[*]}"
start=$(date +%s)
# One product at a time: a plain `swift build` would also link the root package's `mesher`, whose main clashes
# with libFuzzer's.
for target in "${targets[@]}"; do "$SWIFT" build "${build_flags[@]}" --product "$target"; done
echo "== built in $(($(date +%s) - start)) s"
bin=$("$SWIFT" build "${build_flags[@]}" --show-bin-path)

work=${FUZZ_WORK:-}
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/mesher-fuzz.XXXXXX)
    keep=no
else
    mkdir -p "$work"
    keep=yes
fi
# libFuzzer and ASan report the crash themselves (with the input); Swift's own backtracer would only slow that.
export SWIFT_BACKTRACE=enable=no
failed=()
for target in "${targets[@]}"; do
    corpus="Corpus/$target"
    found="$work/$target/new"
    artifacts="$work/$target/artifacts"
    log="$work/$target/fuzz.log"
    mkdir -p "$corpus" "$found" "$artifacts"
    options=(-max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
    dict="Dictionaries/$target.dict"
    if [ -f "$dict" ]; then options+=(-dict="$dict"); fi
    echo "== $target: ${FUZZ_SECONDS} s, log in $log"
    status=0
    # New inputs go to the FIRST corpus directory: the temporary one.
    "$bin/$target" "${options[@]}" -max_total_time="$FUZZ_SECONDS" "$found" "$corpus" >"$log" 2>&1 || status=$?
    # Coverage at the start and at the end, inputs run and per second.
    grep -E $'^#[0-9]+\t(INITED|DONE)|^Done |^stat::average_exec_per_sec' "$log" || true
    crashes=("$artifacts"/*)
    if [ "$status" -ne 0 ] || [ -e "${crashes[0]}" ]; then
        failed+=("$target")
        echo "!! $target failed (exit $status):"
        grep -E 'ERROR|Fatal error|invariant|SUMMARY' "$log" | head -20 || tail -40 "$log"
        for crash in "${crashes[@]}"; do
            [ -e "$crash" ] || continue
            echo "!! input: $crash"
            echo "!! base64: $(base64 -w0 "$crash")"
            echo "!! reproduce: $bin/$target $crash"
        done
        continue
    fi
    if [ "$merge" = yes ]; then
        merged="$work/$target/merged"
        mkdir -p "$merged"
        "$bin/$target" "${options[@]}" -merge=1 "$merged" "$corpus" "$found" >>"$log" 2>&1
        rm -f "$corpus"/*
        cp "$merged"/* "$corpus"/
        echo "== $target: corpus merged into $corpus ($(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1))"
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "FUZZING FAILED: ${failed[*]} (inputs and logs in $work)"
    exit 1
fi
echo "== fuzzing passed: ${targets[*]}"
if [ "$keep" = no ]; then rm -rf "$work"; fi
