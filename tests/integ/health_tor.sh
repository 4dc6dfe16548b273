#!/bin/bash
# onionmx-check --health against the private Tor network (tests/tornet.sh):
# each verdict from what real Tor answers. Idle (nothing tried, Tor's SOCKS
# port answers): OK. Both onions reached: OK. Onion 2's service stopped (the
# onion-service tor reloaded without it) while onion 1 still answers:
# WARNING, destination down, onion 2 named. The client tor stopped: CRITICAL,
# our Tor is broken (its SOCKS port silent; and from the statistics alone,
# without the probe).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../tornet.sh"
enter_netns "$@"
CHECK=$B/tools/onionmx-check
start_dns || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_sink onion2 127.0.0.41:25 || exit 1
if ! tornet_start; then
	ok 1 "the private Tor network starts and its client reaches both onion services"
	done_testing
	exit 1
fi
ok 0 "the private Tor network starts and its client reaches both onion services (${TORNET_READY}s)"

mkdir -p "$T/var" && chmod 755 "$T/var"
cat >"$T/domains" <<EOM
mapped.example  $TOR_ONION1.onion
second.example  $TOR_ONION2.onion
EOM
"$MAPTOOL" "$T/domains" >/dev/null || exit 1
cat >"$T/onionmx.conf" <<EOM
socks = 127.0.0.1:9050
map = $T/domains.cdb
timeout = 6
stats = $T/var/onionmx.stats
log = stderr
EOM
export ONIONMX_CONF=$T/onionmx.conf ONIONMX_ACTIVE=1
deliver() { shim "$H/stats_probe" "$1.onion" 25 2>>"$T/probe.err"; }
health() { out=$("$CHECK" --health -t "$@"); status=$?; }

# Idle: a delivering process ran (an MX lookup) but tried no onion.
like "$(shim "$H/resolv_probe" nsearch mapped.example MX)" "answer MX 10 $TOR_ONION1" \
	"an MX lookup in a delivering process (the statistics file is made)"
health
is "$status" 0 "idle: OK (0)"
like "$out" "^ONIONMX OK - idle: no onion connection in the last 3600 s .*Tor's SOCKS port answers" "idle: $out"

# Working.
is "$(deliver "$TOR_ONION1")" "connect: ok" "onion 1 reached through Tor"
is "$(deliver "$TOR_ONION2")" "connect: ok" "onion 2 reached through Tor"
health
is "$status" 0 "both onions reached: OK (0)"
like "$out" "^ONIONMX OK - 2 onions reached" "working: $out"

# One destination down: onion 2's service stopped (removed from the onion-service
# tor's torrc, which reloads), onion 1 still served.
sed -i "/onion2/d; /127\.0\.0\.41/d" "$TORNET/hs/torrc"
kill -HUP "$TORNET_PID_hs"
tornet_wait 10 grep -q "Received reload signal" "$TORNET/hs/notice.log" 2>/dev/null
for attempt in 1 2; do
	r=$(deliver "$TOR_ONION2")
	like "$r" "connect: (EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT)" "onion 2 stopped, attempt $attempt: $r ($(sed -n 's/.*via Tor [^ ]*: //p' "$T/probe.err" | tail -1))"
done
is "$(deliver "$TOR_ONION1")" "connect: ok" "onion 1 still reached"
health
is "$status" 1 "one destination down: WARNING (1)"
like "$out" "^ONIONMX WARNING - destination down.*$TOR_ONION2\.onion" "it names onion 2: $out"
unlike "$out" "our Tor" "and does not blame our Tor"

# Our Tor broken: the client tor stopped.
tornet_stop client
is "$(deliver "$TOR_ONION1")" "connect: ENETDOWN" "client tor stopped: onion 1 fails"
is "$(deliver "$TOR_ONION2")" "connect: ENETDOWN" "client tor stopped: onion 2 fails"
health
is "$status" 2 "our Tor broken: CRITICAL (2)"
like "$out" "^ONIONMX CRITICAL - our Tor is broken: its SOCKS port 127\.0\.0\.1:9050 does not answer" "$out"
health --no-probe
is "$status" 2 "the same from the statistics alone (--no-probe): CRITICAL (2)"
like "$out" "^ONIONMX CRITICAL - our Tor is broken: 2 onions failing with local causes" "$out"
done_testing
