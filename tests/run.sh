#!/bin/bash
# Runs every test and prints the TAP of each, then "N passed, N failed, N skipped".
# Unit tests first (pure core, no preloading), then the integration tests, each
# in its own private network namespace.
#
# A script passes only if it exits 0, prints exactly one plan ("1..N") and
# exactly N test lines numbered 1..N in order, and fails none. A skipped check
# ("ok N - ... # SKIP REASON") is counted apart, never as passed, and needs a
# reason. Each script runs under a timeout (OMX_TEST_TIMEOUT seconds, 1200 by
# default): one that hangs is killed and counted as failed.
cd "$(dirname "$0")/.." || exit 1
O=${O:-.}
TEST_TIMEOUT=${OMX_TEST_TIMEOUT:-1200}
passed=0
failed=0
skipped=0
failed_names=()
skip_lines=()

# tap_summary: reads a script's TAP on stdin and prints "PASS FAIL SKIP" and
# then one line per problem with the TAP itself (plan, numbering, bare skips).
tap_summary() {
	awk '
	/^(not )?ok / {
		n++
		num = $0; sub(/^(not )?ok /, "", num); sub(/[^0-9].*/, "", num)
		if (num != n) problems[++np] = "test line " n " is numbered \"" num "\""
		if ($0 ~ /^not ok /) { fail++; next }
		if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) {
			reason = $0; sub(/.*#[ \t]*[Ss][Kk][Ii][Pp][^ \t]*/, "", reason)
			gsub(/^[ \t]+|[ \t]+$/, "", reason)
			if (reason == "") problems[++np] = "test " n " is skipped without a reason"
			skip++; next
		}
		pass++; next
	}
	/^1\.\.[0-9]+/ { plans++; plan = substr($0, 4) + 0; next }
	END {
		if (plans == 0) problems[++np] = "no plan (1..N): the script stopped before its end"
		else if (plans > 1) problems[++np] = plans " plans"
		else if (plan != n) problems[++np] = "planned " plan " tests, ran " n
		printf "%d %d %d\n", pass, fail, skip
		for (i = 1; i <= np; i++) print problems[i]
	}'
}

run_one() { # run_one NAME COMMAND...
	local name=$1 out status summary p f s problems
	shift
	echo "# $name"
	out=$(timeout -k 20 "$TEST_TIMEOUT" "$@" 2>&1)
	status=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	summary=$(printf '%s\n' "$out" | tap_summary)
	read -r p f s <<<"$(printf '%s\n' "$summary" | head -1)"
	problems=$(printf '%s\n' "$summary" | tail -n +2)
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		echo "    not ok - $name killed after ${TEST_TIMEOUT}s (OMX_TEST_TIMEOUT)"
		f=$((f + 1))
	elif [ "$status" != 0 ] && [ "$f" = 0 ]; then
		echo "    not ok - $name exited with status $status"
		f=1 # crashed or exited non-zero without saying why: count it
	fi
	if [ -n "$problems" ]; then
		printf '%s\n' "$problems" | sed "s|^|    not ok - $name: |"
		f=$((f + $(printf '%s\n' "$problems" | grep -c .)))
	fi
	if [ "$p" = 0 ] && [ "$f" = 0 ] && [ "$s" = 0 ]; then
		echo "    not ok - $name ran no test"
		f=1
	fi
	if [ "$s" != 0 ]; then
		while IFS= read -r line; do
			skip_lines+=("$name: $line")
		done < <(printf '%s\n' "$out" | grep -E '^ok .*#[[:space:]]*[Ss][Kk][Ii][Pp]')
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	[ "$f" != 0 ] && failed_names+=("$name")
}

only=${1:-}
for t in "$O"/tests/unit/test_*; do
	case $t in *.c) continue ;; esac
	[ -n "$only" ] && [[ $t != *$only* ]] && continue
	run_one "unit/$(basename "$t")" "$t"
done
for t in tests/integ/*.sh; do
	[ -n "$only" ] && [[ $t != *$only* ]] && continue
	run_one "integ/$(basename "$t")" env O="$O" SAN="${SAN:-}" bash "$t"
done
echo
if [ ${#skip_lines[@]} != 0 ]; then
	echo "skipped:"
	printf '  %s\n' "${skip_lines[@]}"
fi
[ ${#failed_names[@]} != 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
