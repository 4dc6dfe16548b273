#!/bin/bash
# make stress: tests/stress/threads (16 threads resolving and connecting at once,
# forking in between) against the ThreadSanitizer build of the library, in a
# private network namespace, while the map is rebuilt under it (the reload path
# runs concurrently with the readers). Prints TAP; every ThreadSanitizer report
# is shown, and one in shim/ code fails the test.
#
# Needs: make all tests (helpers), the TSan library in $TSAN_O (default
# build/tsan) and $TSAN_O/tests/stress/threads, both built by "make stress".
# Environment: STRESS_THREADS (16), STRESS_ITERATIONS (100), STRESS_FORK_EVERY (4),
# STRESS_HAMMERS (2 threads calling getpeername() on a Tor socket all along),
# STRESS_TIMEOUT (60 s: then the stacks of every process of it are shown).
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
TSAN_O=${TSAN_O:-build/tsan}
case $TSAN_O in /*) TB=$TSAN_O ;; *) TB=$TOP/$TSAN_O ;; esac
TLIB=$TB/shim/libonionmx.so
PROG=$TB/tests/stress/threads
THREADS=${STRESS_THREADS:-16}
ITERATIONS=${STRESS_ITERATIONS:-100}
FORK_EVERY=${STRESS_FORK_EVERY:-4}
HAMMERS=${STRESS_HAMMERS:-2}
for f in "$TLIB" "$PROG" "$H/fake_socks" "$H/smtp_sink"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "Bail out! $f is missing (make stress builds it)"; exit 1; }
done

OMX_TIMEOUT=10
setup_map || exit 1
# Discovery on: disc.example publishes ONION1 by SRV (TTL 1 s, so answers expire
# and are fetched again during the run), plain.example publishes nothing (a
# negative answer): every MX lookup goes through the shared cache's lock.
start_dns --local-ttl=1 "--srv-host=_onion-mx._tcp.disc.example,$ONION1.onion,25,0,5" || exit 1
sed -i 's/^log_level = .*/log_level = info/' "$T/onionmx.conf"
printf 'discover = srv\ncache = %s/cache\n' "$T" >>"$T/onionmx.conf"
start_sink onion 127.0.0.40:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')

# The TSan runtime comes with the library (it is linked against libtsan) and
# with the program; reports go to files, one per process (forked children too).
mkdir -p "$T/tsan"
export TSAN_OPTIONS="log_path=$T/tsan/report halt_on_error=0 exitcode=0 second_deadlock_stack=1 history_size=4 suppressions=$TOP/tests/stress/tsan.supp ${STRESS_TSAN_OPTIONS:-}"

# Rebuild the map (same content, new file) every 0.3 s while the threads run.
(
	while :; do
		"$MAPTOOL" "$T/domains" >/dev/null 2>&1
		sleep 0.3
	done
) &
REBUILDER=$!
PIDS+=("$REBUILDER")

# The program runs in the background so that, if it hangs, the stacks of the
# parent and of the first hung children can be shown before they are killed.
start=$(date +%s.%N)
LD_PRELOAD="$TLIB" "$PROG" -g "$HAMMERS" -c mapped.example -t "$THREADS" -i "$ITERATIONS" -f "$FORK_EVERY" \
	"$ONION1.onion" "$ADDR1" disc.example mx.plain.example 127.0.0.30 plain.example \
	mx.plain.example "220 onion" >"$T/out" 2>"$T/stderr" &
prog=$!
PIDS+=("$prog")
deadline=$(($(date +%s) + ${STRESS_TIMEOUT:-60}))
while alive "$prog" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
hung=""
if alive "$prog"; then
	hung=$(pgrep -P "$prog" | tr '\n' ' ')
	echo "# the program hung: stacks of $prog (and children: ${hung:-none})"
	# The parent and the first three hung children are enough to see why.
	for p in "$prog" $(printf '%s\n' $hung | head -3); do
		echo "# --- process $p"
		timeout 60 gdb -p "$p" -batch -ex "thread apply all bt 12" 2>/dev/null |
			grep -E '^(Thread|#)' | head -150 | sed 's/^/#   /'
	done
	kill -9 "$prog" $hung 2>/dev/null
fi >"$T/stacks"
cat "$T/stacks"
{ wait "$prog"; } 2>/dev/null
status=$?
out=$(cat "$T/out")
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
stop_pid "$REBUILDER"

echo "# $out (${secs}s)"
is "$status" 0 "$THREADS threads x $ITERATIONS iterations (resolve, MX by discovery, connect; fork every $FORK_EVERY; $HAMMERS getpeername threads): every answer right"
grep 'FAIL' "$T/stderr" | head -10 | sed 's/^/#   /'

reloads=$(grep -c 'loaded rebuilt map' "$T/stderr")
ok "$([ "$reloads" -gt 0 ]; echo $?)" "the library reloaded the map $reloads times while the threads used it"
connects=$(printf '%s\n' "$out" | sed -n 's/.* connects \([0-9]*\) forks \([0-9]*\) .*/\1 \2/p')
set -- $connects
want=$((${1:-0} + ${2:-0}))
# A count of 0 would make the comparison below pass with nothing checked.
ok "$([ "$want" -gt 0 ]; echo $?)" "the program reported how many connections it made ($want)"
if [ -n "$hung" ]; then
	ok 0 "the onion sink saw every connection # SKIP the program hung: no count to compare"
else
	for _ in $(seq 40); do [ "$(sink_connections onion)" -ge "$want" ] && break; sleep 0.1; done
	is "$(sink_connections onion)" "$want" "the onion sink saw every connection (parents' and children's) through the SOCKS server"
fi
like "$(grep -c . "$T/socks.log")" "^[0-9]+$" "the SOCKS server logged the requests"
# (disc.example's MX is asked by the library itself under srv_dnssec = prefer,
# to see whether the domain has DANE before it uses an unsigned SRV answer.)
unlike "$(dns_queries | grep -v '^SRV _onion-mx\._tcp\.' | grep -v '^MX disc\.example$')" \
	"onion|A mapped\.example|MX mapped\.example|A disc\.example" "no onion name, mapped MX or discovered domain's address question reached DNS"
srv=$(dns_queries | grep -c 'SRV _onion-mx._tcp.disc.example')
ok "$([ "$srv" -ge 1 ]; echo $?)" "discovery asked for disc.example's SRV records ($srv times in the run, TTL 1 s)"

# ThreadSanitizer reports: every one is printed; those whose stacks involve the
# library's own code fail the test.
reports=$(cat "$T"/tsan/report.* 2>/dev/null)
n_reports=$(printf '%s\n' "$reports" | grep -c '^WARNING: ThreadSanitizer')
# Frames name the library's files as "shim/FILE.c" (relative, as compiled) or
# with a directory before it.
in_shim=$(printf '%s\n' "$reports" | awk '/^WARNING: ThreadSanitizer/ { r = $0; shim = 0 } /(^|[ \/(])shim\/[a-z_0-9]+\.c/ { shim = 1 } /^SUMMARY/ && shim { print }' | sort -u)
if [ "$n_reports" -gt 0 ]; then
	echo "# $n_reports ThreadSanitizer report(s):"
	printf '%s\n' "$reports" | grep -E '^(WARNING|SUMMARY|  (Write|Read|Previous|Atomic|Mutex|Location)| +#[0-9]+ )' |
		head -200 | sed 's/^/#   /'
fi
is "$(printf '%s' "$in_shim" | grep -c .)" 0 "no ThreadSanitizer report in the library's code (shim/)"
printf '%s\n' "$in_shim" | grep . | sed 's/^/#   /'
others=$(printf '%s\n' "$reports" | grep '^SUMMARY' | sort | uniq -c)
[ -n "$others" ] && printf '%s\n' "$others" | sed 's/^/# (all reports, by summary line) /'
is "$hung" "" "no child process was left hanging"
# Name the lock a hung child waits for when it is the library's own.
for lock in $(grep -o 'mutex=0x[0-9a-f]* <[a-z_]*>' "$T/stacks" 2>/dev/null | sed 's/.*<\(.*\)>/\1/' | sort -u); do
	where=$(grep -m1 -A8 "<$lock>" "$T/stacks" | grep -o 'in [a-z_]* (.*) at shim/[a-z_]*\.c:[0-9]*' |
		sed 's/in \([a-z_]*\) (.*) at /\1() at /' | head -1)
	echo "#   a child blocks forever on $lock, held by another thread of the parent at fork()${where:+: $where}"
done
if grep -qE 'ThreadSanitizer: (CHECK failed|unexpected memory mapping|.*not supported)' "$T/stderr" "$T"/tsan/report.* 2>/dev/null; then
	ok 1 "the TSan runtime itself ran cleanly"
	grep -hE 'ThreadSanitizer' "$T/stderr" "$T"/tsan/report.* | head -5 | sed 's/^/#   /'
else
	ok 0 "the TSan runtime itself ran cleanly"
fi

# system() and popen() from 8 threads at once after clearenv(): the library
# swaps environ for them and shares the swap between concurrent calls.
PT=$TB/tests/stress/popen_threads
if [ -x "$PT" ]; then
	mkdir -p "$T/tsan-popen"
	out=$(TSAN_OPTIONS="log_path=$T/tsan-popen/report halt_on_error=0 exitcode=0" \
		LD_PRELOAD="$TLIB" "$PT" 8 20 noreader 2>&1)
	like "$out" "^children=320 missed=0 bad_reads=0 environ_back=yes$" \
		"system()/popen() from 8 threads: every child had the library, environ put back"
	shim_frames=$(cat "$T"/tsan-popen/report.* 2>/dev/null | grep -E '(^|[ /(])shim/[a-z_0-9]+\.c')
	is "$(printf '%s' "$shim_frames" | grep -c .)" 0 "no ThreadSanitizer report in shim/ for system()/popen()"
	printf '%s\n' "$shim_frames" | grep . | head -20 | sed 's/^/#   /'
else
	echo "ok $((T_N += 1)) - # SKIP $PT is missing (make stress builds it)"
fi
done_testing
