#!/bin/bash
# A damaged map defers, never "not mapped": a map written in place (dd, cp)
# under a process running a lookup loop gives no clearnet MX and sends nothing
# about the mapped domain to DNS; onionmx -t and onionmx-map -q name the damage;
# a truncated map is refused at start-up. Addresses across rebuilds: an onion
# keeps its address when a new one that sorts first is added; a removed onion's
# address is refused, not reused; after -r the old range is refused and nothing
# leaves.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1

# --- 1. written in place while a process looks the mapped domain up ---------------
# Maps of growing size, all mapping mapped.example to ONION1.
"$H/onion_gen" filler 1500 >"$T/fill"
for i in 1 2 3 4 5 6; do
	{ cat "$T/domains"; head -$((i * 250)) "$T/fill" | awk '{ printf "f%d.example %s.onion\n", NR, $1 }'; } >"$T/grow$i"
	"$MAPTOOL" "$T/grow$i" >/dev/null || exit 1
done
cp "$T/grow1.cdb" "$T/domains.cdb.new" && mv "$T/domains.cdb.new" "$T/domains.cdb"
: >"$T/dns.log"
rm -f "$T/stop"
shim "$H/lookup_loop" mapped.example "$T/stop" >"$T/loop.out" 2>"$T/loop.err" &
LOOP=$!
sleep 0.5
# In place without truncation (the file only grows: no SIGBUS), then with cp
# (truncates, then writes: the way the damage was first seen).
for i in 2 3 4; do
	dd if="$T/grow$i.cdb" of="$T/domains.cdb" conv=notrunc status=none
	sleep 0.3
done
for i in 5 6; do
	cp "$T/grow$i.cdb" "$T/domains.cdb"
	sleep 0.3
done
sleep 1.5 # the process notices the final file and loads it
: >"$T/stop"
wait "$LOOP"
cat "$T/loop.out" | sed 's/^/# /'
like "$(cat "$T/loop.out")" "^mx $ONION1\.onion [1-9]" "in place: the lookup loop got the onion MX"
unlike "$(cat "$T/loop.out")" "^mx mx\.mapped\.example" "in place: never the clearnet MX"
like "$(cat "$T/loop.out")" "^other 0$" "in place: no answer other than the onion MX or TRY_AGAIN"
like "$(cat "$T/loop.out")" "^tempfail [1-9]" "in place: lookups during the rewrite deferred (TRY_AGAIN)"
like "$(cat "$T/loop.err")" "domains\.cdb: damaged, or written in place" "in place: the cause is logged"
like "$(cat "$T/loop.err")" "loaded rebuilt map" "in place: the finished file was loaded again without a restart"
out=$(shim "$H/resolv_probe" nsearch plain.example MX 2>/dev/null)
like "$(dns_queries)" "MX plain\.example" "control: an unmapped domain's MX query is seen by the DNS server"
unlike "$(dns_queries)" "mapped\.example" "in place: no DNS query about mapped.example"
"$MAPTOOL" "$T/domains" >/dev/null || exit 1

# --- 2. the tools name the damage; a truncated map is refused at start-up ---------
size=$(stat -c %s "$T/domains.cdb")
out=$("$MAPTOOL" -q mapped.example "$T/domains.cdb" 2>&1)
is "$?" 0 "intact: onionmx-map -q passes"
out=$(wrapper -t 2>&1)
is "$?" 0 "intact: onionmx -t passes"
cp "$T/domains.cdb" "$T/bad.cdb"
head -c 16 /dev/zero | dd of="$T/bad.cdb" bs=1 seek=$((size - 16)) conv=notrunc status=none
out=$("$MAPTOOL" -q mapped.example "$T/bad.cdb" 2>&1)
is "$?" 3 "zeroed hash-table bytes: onionmx-map -q exits 3"
like "$out" "bad\.cdb: damaged" "and names the file and the damage"
sed "s|^map = .*|map = $T/bad.cdb|" "$T/onionmx.conf" >"$T/bad.conf"
out=$(wrapper -c "$T/bad.conf" -t 2>&1)
isnt_zero=$?
ok $((isnt_zero == 0)) "zeroed hash-table bytes: onionmx -t exits non-zero ($isnt_zero)"
like "$out" "bad\.cdb: damaged" "and names the file and the damage"
head -c $((size - 100)) "$T/domains.cdb" >"$T/trunc.cdb"
out=$("$MAPTOOL" -q mapped.example "$T/trunc.cdb" 2>&1)
is "$?" 3 "truncated: onionmx-map -q exits 3"
like "$out" "trunc\.cdb: truncated" "and says truncated"
sed "s|^map = .*|map = $T/trunc.cdb|" "$T/onionmx.conf" >"$T/trunc.conf"
out=$(wrapper -c "$T/trunc.conf" -t 2>&1)
ok $(($? == 0)) "truncated: onionmx -t exits non-zero"
like "$out" "trunc\.cdb: truncated" "and says truncated"
: >"$T/dns.log"
out=$(ONIONMX_CONF=$T/trunc.conf shim "$H/resolv_probe" nsearch mapped.example MX 2>"$T/stderr")
like "$out" "^rc=-1 h_errno=2 " "truncated at start-up: the MX lookup defers (TRY_AGAIN)"
like "$(cat "$T/stderr")" "trunc\.cdb: truncated" "and the start-up error names it"
out=$(ONIONMX_CONF=$T/bad.conf shim "$H/resolv_probe" nsearch f1.example MX 2>/dev/null)
out=$(ONIONMX_CONF=$T/onionmx.conf shim "$H/resolv_probe" nsearch plain.example MX 2>/dev/null)
like "$(dns_queries)" "MX plain\.example" "control: the DNS server sees an unmapped domain's query"
unlike "$(dns_queries)" "mapped\.example" "no DNS query about mapped.example from a damaged map"

# --- 3. addresses across rebuilds --------------------------------------------------
RANGE=10.77.0.0/24
printf 'y.example %s.onion\nz.example %s.onion\n' "$ONION1" "$ONION2" >"$T/rb"
"$MAPTOOL" -r $RANGE "$T/rb" >/dev/null || exit 1
sed "s|^map = .*|map = $T/rb.cdb|" "$T/onionmx.conf" >"$T/rb.conf"
export ONIONMX_CONF=$T/rb.conf
addr_of() { "$MAPTOOL" -q "$1.onion" "$T/rb.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p'; }
ADDR_Y=$(addr_of "$ONION1")
ADDR_Z=$(addr_of "$ONION2")
X=$("$H/onion_collide" $RANGE "$ONION1" rebuild) || { ok 1 "no colliding onion found"; done_testing; exit; }
printf 'x.example %s.onion\n' "$X" >>"$T/rb"
"$MAPTOOL" -r $RANGE "$T/rb" >/dev/null || exit 1
is "$(addr_of "$ONION1")" "$ADDR_Y" "new onion that sorts first and wants Y's address: Y keeps it"
ADDR_X=$(addr_of "$X")
ok $([ -n "$ADDR_X" ] && [ "$ADDR_X" != "$ADDR_Y" ]; echo $?) "X gets an address of its own ($ADDR_X)"
: >"$T/socks.log"
out=$(shim "$H/connect_probe" "$ADDR_Y" 25 2>/dev/null)
like "$out" "^banner: 220 onion " "a process holding Y's address connects..."
like "$(cat "$T/socks.log")" "host=$ONION1\.onion port=25" "...to Y, as the SOCKS server was asked"
unlike "$(cat "$T/socks.log")" "host=$X\.onion" "and not to X"

# Y removed: its address is refused and not given to anybody.
printf 'x.example %s.onion\nz.example %s.onion\n' "$X" "$ONION2" >"$T/rb"
"$MAPTOOL" -r $RANGE "$T/rb" >/dev/null || exit 1
: >"$T/socks.log"
out=$(shim "$H/connect_probe" "$ADDR_Y" 25 2>"$T/stderr")
like "$out" "^connect: EHOSTUNREACH" "removed onion: a connect to its address is refused"
like "$(cat "$T/stderr")" "refusing connection to $ADDR_Y, formerly $ONION1\.onion: the onion was removed" "with the cause logged"
like "$("$MAPTOOL" -q "$ADDR_Y" "$T/rb.cdb")" "no longer in the map" "onionmx-map -q says the address is retired"
out=$(shim "$H/connect_probe" "$ADDR_X" 25 2>/dev/null)
like "$out" "^banner: 220 onion " "control: X's address still connects"
is "$(grep -c CONNECT "$T/socks.log")" 1 "only X's connect reached the SOCKS server"
W=$("$H/onion_collide" $RANGE "$ONION1" newcomer) || W=""
if [ -n "$W" ]; then
	printf 'w.example %s.onion\n' "$W" >>"$T/rb"
	"$MAPTOOL" "$T/rb" >/dev/null || exit 1 # no -r: the existing map's range is kept
	like "$("$MAPTOOL" -q "$X.onion" "$T/rb.cdb")" "address $ADDR_X\)" "rebuilt without -r: the range and X's address stay"
	ADDR_W=$(addr_of "$W")
	ok $([ -n "$ADDR_W" ] && [ "$ADDR_W" != "$ADDR_Y" ]; echo $?) "a new onion wanting Y's old address does not get it ($ADDR_W)"
	out=$(shim "$H/connect_probe" "$ADDR_Y" 25 2>/dev/null)
	like "$out" "^connect: EHOSTUNREACH" "Y's address is still refused"
fi

# -r: the old range stays refused; nothing leaves for it.
ip route add local 10.77.0.0/24 dev lo
start_sink oldrange "$ADDR_Z:25" || exit 1
out=$("$H/connect_probe" "$ADDR_Z" 25 2>/dev/null)
like "$out" "^banner: 220 oldrange " "control: without the library, a connect to $ADDR_Z reaches the sink there"
before=$(sink_connections oldrange)
"$MAPTOOL" -r 10.78.0.0/24 "$T/rb" >/dev/null || exit 1
like "$("$MAPTOOL" -q "$ADDR_Z" "$T/rb.cdb")" "previous range" "onionmx-map -q: the old address is in a previous range"
: >"$T/socks.log"
out=$(shim "$H/connect_probe" "$ADDR_Z" 25 2>"$T/stderr")
like "$out" "^connect: EHOSTUNREACH" "after -r: a connect to an old-range address is refused"
like "$(cat "$T/stderr")" "refusing connection to $ADDR_Z: an address of the map's previous range" "with the cause logged"
is "$(sink_connections oldrange)" "$before" "nothing reached the sink at the old address"
is "$(grep -c CONNECT "$T/socks.log")" 0 "nor the SOCKS server"
out=$(shim "$H/connect_probe" "$ONION2.onion" 25 2>/dev/null)
like "$out" "^banner: 220 onion " "control: Z by name connects at its new address"
done_testing
