#!/bin/bash
# Delivery statistics (shim/stats.c) counted exactly across processes: a plain
# process, fork() children sharing their parent's mapping, a chrooted process
# (the file opened before the chroot, as in Postfix's smtp), a setuid program
# run by nobody (secure mode, as Exim's re-exec), through the scripted SOCKS
# server answering success, each kind of refusal, garbage, nothing (timeout)
# and not running at all; the routes of MX lookups (map, srv, mx, deferred).
# Then onionmx-stats: the table, --json (python3's json), --prometheus (the
# Prometheus client's own text parser), a damaged file; and onionmx-check
# --health -t on the same numbers.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
PY=/usr/bin/python3
STATS=$B/tools/onionmx-stats
CHECK=$B/tools/onionmx-check
ONION3=$("$H/onion_gen" test-three)
start_dns --srv-host=_onion-mx._tcp.srv.example,$ONION3.onion,25,0,5 || exit 1
start_sink onion 127.0.0.40:25 || exit 1
OMX_TIMEOUT=2 setup_map || exit 1
mkdir -p "$T/var" && chmod 755 "$T/var"
cat >>"$T/onionmx.conf" <<EOM
stats = $T/var/onionmx.stats
discover = srv
cache = $T/var/discovery.cache
EOM
# The library counts in processes that deliver mail (the onionmx wrapper sets this).
export ONIONMX_ACTIVE=1
probe() { shim "$H/stats_probe" "$@" 2>>"$T/probe.err"; }
json() { # json EXPR: a value of onionmx-stats --json, EXPR over d (the document) in python
	"$STATS" --json | "$PY" -c "import json,sys; d=json.load(sys.stdin); o={x['onion'][:56]: x for x in d['onions']}; dm={x['domain']: x for x in d['domains']}; print($1)"
}

# --- successes from four kinds of process ---
start_socks relay -r 127.0.0.40:25 || exit 1
is "$(probe "$ONION1.onion" 25)" "connect: ok" "a plain process connects to onion 1"
ok "$([ -f "$T/var/onionmx.stats" ] && echo 0 || echo 1)" "the statistics file was made"
is "$(stat -c '%a %s' "$T/var/onionmx.stats")" "640 $(stat -c %s "$T/var/onionmx.stats")" "mode 0640"
size=$(stat -c %s "$T/var/onionmx.stats")
is "$(probe -F 3 "$ONION1.onion" 25 | sort | uniq -c | sed 's/^ *//')" "3 connect: ok" \
	"three fork() children of one process connect"
mkdir -p "$T/jail"
out=$(probe -j "$T/jail" -m mapped.example "$ONION1.onion" 25)
like "$out" "connect: ok" "a chrooted process connects (statistics opened before the chroot)"
is "$(json "o['$ONION1']['succeeded']")" 5 "onion 1: 5 successes counted (1 + 3 forks + 1 chrooted)"
OK1=5
if [ "${SAN:-}" = 1 ]; then
	echo "ok $((T_N += 1)) - # SKIP setuid helper: an ASan build cannot be preloaded into setuid programs"
else
	install_in_namespace || exit 1
	cp "$T/domains.cdb" /etc/onionmx/domains.cdb
	install -o root -m 4755 "$H/stats_probe" "$T/suid_probe"
	cat >/etc/onionmx/onionmx.conf <<EOM
socks = 127.0.0.1:9050
map = /etc/onionmx/domains.cdb
stats = $T/var/onionmx.stats
programs = $T/suid_probe
log = stderr
EOM
	chmod 644 /etc/onionmx/onionmx.conf /etc/onionmx/domains.cdb
	out=$(timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_PRELOAD=libonionmx.so "$T/suid_probe" "$ONION1.onion" 25 2>&1)
	like "$out" "connect: ok" "a setuid program run by nobody (secure mode, root's config) connects"
	OK1=6
fi
is "$(json "o['$ONION1']['succeeded']")" $OK1 "onion 1: every success counted ($OK1)"

# --- failures, one of each kind ---
fail_with() { # fail_with ONION WANT-ERRNO FAKE-SOCKS-ARGS...
	local onion=$1 want=$2
	shift 2
	stop_socks
	if [ "$1" != none ]; then start_socks "$@" || exit 1; fi
	is "$(probe "$onion.onion" 25)" "connect: $want" "fake_socks ${*}: connect fails with $want"
}
fail_with "$ONION2" EHOSTUNREACH extended -c 0xf0
fail_with "$ONION2" ECONNREFUSED refuse -c 0x01
fail_with "$ONION1" ETIMEDOUT refuse -c 0x06
fail_with "$ONION1" EPROTO garble
fail_with "$ONION1" ETIMEDOUT hang
fail_with "$ONION1" ENETDOWN none
fail_with "$ONION2" ENETDOWN none

# --- routes of MX lookups ---
like "$(shim "$H/resolv_probe" nsearch mapped.example MX)" "answer MX 10 $ONION1" "MX of mapped.example from the map"
like "$(shim "$H/resolv_probe" nsearch srv.example MX)" "answer MX [0-9]+ $ONION3" "MX of srv.example discovered by SRV"
like "$(shim "$H/resolv_probe" nsearch plain.example MX)" "answer MX 10 mx\.plain\.example" "MX of plain.example from DNS (clearnet)"
like "$(shim "$H/resolv_probe" nsearch other.test MX)" "h_errno=2" "MX of other.test: the SRV lookup fails, deferred (TRY_AGAIN)"

# --- not a delivering process: nothing counted (the counts above are the control) ---
before=$(json "d['total']['tried']")
out=$(ONIONMX_ACTIVE= shim "$H/stats_probe" "$ONION1.onion" 25 2>/dev/null)
is "$out" "connect: ENETDOWN" "a process that delivers no mail connects (and fails: no Tor)"
is "$(json "d['total']['tried']")" "$before" "it is not counted"
is "$(stat -c %s "$T/var/onionmx.stats")" "$size" "the file never grew ($size bytes)"

# --- the exact counts ---
is "$(json "d['total']['tried']")" $((OK1 + 7)) "total tried: $((OK1 + 7))"
is "$(json "d['total']['succeeded']")" $OK1 "total succeeded: $OK1"
is "$(json "o['$ONION1']['tried']")" $((OK1 + 4)) "onion 1 tried $((OK1 + 4))"
is "$(json "sorted(o['$ONION1']['failed_by_cause'].items())")" \
	"[('error', 1), ('timeout', 1), ('tor_refused', 1), ('ttl_expired', 1)]" \
	"onion 1 failures by cause: reply 0x06, garbage, timeout, Tor refused"
is "$(json "sorted(o['$ONION2']['failed_by_cause'].items())")" \
	"[('descriptor_not_found', 1), ('general_failure', 1), ('tor_refused', 1)]" \
	"onion 2 failures by cause: reply 0xF0, reply 0x01, Tor refused"
is "$(json "o['$ONION2']['succeeded']")" 0 "onion 2: no success"
is "$(json "o['$ONION1']['handshake_seconds']['count']")" $OK1 "onion 1: $OK1 handshake times in the histogram"
is "$(json "sum(b['count'] for b in o['$ONION1']['handshake_seconds']['buckets'])")" $OK1 "and its buckets add up"
is "$(json "[(t['tor'], t['succeeded'], t['failed']) for t in o['$ONION1']['tors']]")" \
	"[('127.0.0.1:9050', $OK1, 4)]" "onion 1: carried by Tor 127.0.0.1:9050"
is "$(json "o['$ONION1']['last_cause']")" tor_refused "onion 1: the last failure's cause"
now=$(date +%s)
ok "$(json "int($now - 120 <= o['$ONION1']['last_success'] <= $now + 2 and $now - 120 <= o['$ONION2']['last_failure'] <= $now + 2)" |
	grep -qx 1 && echo 0 || echo 1)" "last success and failure times are now"
is "$(json "dm['mapped.example']['routes']")" "{'map': 2, 'srv': 0, 'mx': 0, 'deferred': 0}" \
	"mapped.example: 2 MX lookups by the map (one of them chrooted)"
is "$(json "dm['srv.example']['routes']['srv']")" 1 "srv.example: 1 by SRV discovery"
is "$(json "dm['plain.example']['routes']['mx']")" 1 "plain.example: 1 to the clearnet MX"
is "$(json "dm['other.test']['routes']['deferred']")" 1 "other.test: 1 deferred"

# --- the table ---
table=$("$STATS")
like "$table" "$ONION1\.onion +$((OK1 + 4)) +$OK1 +4 " "table: onion 1's row"
like "$table" "\(total\) +$((OK1 + 7)) +$OK1 +7 " "table: the total"
like "$table" "Failures by cause: .*descriptor_not_found 1" "table: failures by cause"
like "$table" "other\.test +0 +0 +0 +1 +deferred" "table: other.test deferred"

# --- Prometheus, through the client library's own parser ---
mkdir -p "$T/prom"
"$STATS" --prometheus "$T/prom/onionmx.prom"
is "$?" 0 "--prometheus PATH writes"
is "$(ls "$T/prom")" "onionmx.prom" "only the file itself is left (written under a temporary name, renamed)"
if "$PY" -c 'import prometheus_client' 2>/dev/null; then
	out=$("$PY" - "$T/prom/onionmx.prom" "$ONION1" <<'EOP'
import sys
from prometheus_client.parser import text_string_to_metric_families
o1 = sys.argv[2] + ".onion"
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def v(fam, name, **labels):
    return [s.value for s in fams[fam].samples if s.name == name and all(s.labels.get(k) == x for k, x in labels.items())]
print("families", " ".join(sorted(f"{n}:{f.type}" for n, f in fams.items())))
print("success", v("onionmx_connections", "onionmx_connections_total", onion=o1, result="success"))
print("timeout", v("onionmx_connections", "onionmx_connections_total", onion=o1, result="timeout"))
print("inf", v("onionmx_socks_handshake_seconds", "onionmx_socks_handshake_seconds_bucket", onion=o1, le="+Inf"))
print("count", v("onionmx_socks_handshake_seconds", "onionmx_socks_handshake_seconds_count", onion=o1))
print("tor", v("onionmx_tor_connections", "onionmx_tor_connections_total", onion=o1, tor="127.0.0.1:9050", result="failure"))
print("deferred", v("onionmx_mx_lookups", "onionmx_mx_lookups_total", domain="other.test", route="deferred"))
EOP
)
	like "$out" "families onionmx_connections:counter .*onionmx_socks_handshake_seconds:histogram" \
		"the Prometheus parser reads every family, with its type"
	like "$out" "success \[$OK1\.0\]" "onionmx_connections_total{onion=ONION1,result=success} $OK1"
	like "$out" "timeout \[1\.0\]" "onionmx_connections_total{...,result=timeout} 1"
	like "$out" "inf \[$OK1\.0\]" "the histogram's +Inf bucket holds every success"
	like "$out" "count \[$OK1\.0\]" "and its _count agrees"
	like "$out" "tor \[4\.0\]" "onionmx_tor_connections_total by Tor"
	like "$out" "deferred \[1\.0\]" "onionmx_mx_lookups_total{domain=other.test,route=deferred} 1"
else
	ok 0 "# SKIP python3-prometheus-client not installed (tests/deps.sh installs it)"
fi

# --- damage: never trusted, never a crash ---
cp "$T/var/onionmx.stats" "$T/damaged.stats"
"$PY" - "$T/damaged.stats" "$ONION2" <<'EOP'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
i = data.find(sys.argv[2].encode())
data[i + 3] ^= 1
open(sys.argv[1], "wb").write(data)
EOP
out=$("$STATS" -f "$T/damaged.stats" 2>&1)
is "$?" 0 "a file with a damaged entry is still shown"
like "$out" "1 damaged entries left out" "and the damaged entry is reported"
unlike "$out" "$ONION2" "and left out"
head -c 1000 "$T/var/onionmx.stats" >"$T/short.stats"
out=$("$STATS" -f "$T/short.stats" 2>&1)
is "$?" 1 "a truncated file: exit 1"
like "$out" "short\.stats: not an onionmx statistics file" "named, with the reason"
out=$("$CHECK" --health -t --no-probe -f "$T/short.stats" 2>&1)
is "$?" 3 "onionmx-check --health on a truncated file: UNKNOWN (3)"
# The library refuses a file of the wrong size, and delivery goes on.
cp "$T/short.stats" "$T/var/onionmx.stats"
stop_socks
start_socks relay -r 127.0.0.40:25 || exit 1
is "$(probe "$ONION1.onion" 25)" "connect: ok" "with a damaged statistics file, delivery still works"
like "$(cat "$T/probe.err")" "onionmx\.stats: refused: not a regular file of [0-9]+ bytes" "and the library says why it keeps none"
is "$(stat -c %s "$T/var/onionmx.stats")" 1000 "the damaged file is left alone"

# --- the health verdict on these numbers ---
rm -f "$T/var/onionmx.stats"
is "$(probe "$ONION1.onion" 25)" "connect: ok" "a fresh file: one success"
out=$("$CHECK" --health -t)
is "$?" 0 "--health: OK (0) after a success"
like "$out" "^ONIONMX OK - 1 onion reached" "one line: $out"
stop_socks
probe "$ONION1.onion" 25 >/dev/null
probe "$ONION2.onion" 25 >/dev/null
out=$("$CHECK" --health -t)
is "$?" 2 "Tor's SOCKS port closed, two onions refused: CRITICAL (2)"
like "$out" "^ONIONMX CRITICAL - our Tor is broken: its SOCKS port 127\.0\.0\.1:9050 does not answer" "one line: $out"
is "$(printf '%s\n' "$out" | wc -l)" 1 "-t: exactly one line"
done_testing
