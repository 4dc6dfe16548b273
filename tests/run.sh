#!/bin/bash
# Runs every test and prints the TAP of each, then "N passed, N failed".
# Unit tests first (pure core, no preloading), then the integration tests, each
# in its own private network namespace.
cd "$(dirname "$0")/.." || exit 1
O=${O:-.}
passed=0
failed=0
failed_names=()

run_one() { # run_one NAME COMMAND...
	local name=$1 out status
	shift
	echo "# $name"
	out=$("$@" 2>&1)
	status=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	local p f
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok ')
	if [ "$status" != 0 ] && [ "$f" = 0 ]; then
		f=1 # crashed or exited non-zero without saying why: count it
		echo "    not ok - $name exited with status $status"
	fi
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "    not ok - $name ran no test"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
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
[ ${#failed_names[@]} != 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
