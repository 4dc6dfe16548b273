#!/bin/bash
# make fuzz / make fuzz-ci: runs every libFuzzer target in $FUZZ_DIR for
# SECONDS each (as many at once as there are CPUs), starting from the seed corpus
# committed in tests/fuzz/corpus/TARGET/; what a run finds goes to
# $FUZZ_DIR/corpus/TARGET (the committed seeds are never written), crashes to
# $FUZZ_DIR/artifacts/. Prints executions and coverage per target; exits 1 if a
# target crashed or failed a check.
#
# usage: tests/fuzz/run.sh SECONDS [TARGET...]
cd "$(dirname "$0")/../.." || exit 1
SECONDS_EACH=${1:-60}
shift
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
jobs=$(nproc 2>/dev/null || echo 1)
mkdir -p "$FUZZ_DIR/artifacts" "$FUZZ_DIR/logs"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

run_one() {
	local t=$1
	mkdir -p "$FUZZ_DIR/corpus/$t"
	"$FUZZ_DIR/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 -max_len=4096 -artifact_prefix="$FUZZ_DIR/artifacts/$t-" \
		"$FUZZ_DIR/corpus/$t" "tests/fuzz/corpus/$t" >"$FUZZ_DIR/logs/$t.log" 2>&1
	echo $? >"$FUZZ_DIR/logs/$t.status"
}

echo "# fuzzing ${#targets[@]} targets for ${SECONDS_EACH}s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
	[ -x "$FUZZ_DIR/$t" ] || { echo "fuzz: $FUZZ_DIR/$t is not built" >&2; exit 1; }
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

failed=0
printf '%-16s %12s %10s %8s %8s %7s  %s\n' target executions exec/s cov features corpus result
for t in "${targets[@]}"; do
	log=$FUZZ_DIR/logs/$t.log
	status=$(cat "$FUZZ_DIR/logs/$t.status" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ "$status" = 0 ]; then
		result=ok
	else
		result="FAILED (status $status; see $log)"
		failed=1
	fi
	printf '%-16s %12s %10s %8s %8s %7s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
		"${corp:-?}" "$result"
	if [ "$status" != 0 ]; then
		grep -E 'ERROR|check failed|SUMMARY|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
	fi
done
exit $failed
