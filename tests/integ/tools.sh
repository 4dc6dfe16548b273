#!/bin/bash
# onionmx-map compiles atomically and names FILE:LINE on every error, leaving the
# old map untouched; -q answers for domains, onions and addresses; the wrapper
# checks the config, passes the library on, and stays out of the way.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
setup_map || exit 1
cp "$T/domains.cdb" "$T/before.cdb"

compile_fails() { # compile_fails DESCRIPTION LINE-CONTENT WANT-REGEX
	printf '# header\nok.example %s.onion\n%s\n' "$ONION1" "$2" >"$T/domains"
	out=$("$MAPTOOL" "$T/domains" 2>&1)
	status=$?
	is "$status" 3 "$1: onionmx-map exits 3"
	like "$out" "$T/domains:3: .*$3" "$1: the message names the file and line"
	cmp -s "$T/domains.cdb" "$T/before.cdb"
	ok $? "$1: the compiled map is left untouched"
}
compile_fails "bad checksum" "bad.example ${ONION1%?}a.onion" "bad checksum"
compile_fails "v2 onion" "old.example expyuzz4wqqyqhjn.onion" "removed v2 onion addresses in 0\.4\.6"
compile_fails "key Tor refuses" "typo.example $("$H/onion_gen" --not-a-point tools-typo).onion" "not a valid ed25519 point: Tor would refuse it"
compile_fails "not an onion" "x.example mail.example.com" "not an onion address"
compile_fails "bad port" "x.example $ONION1.onion:0" "port"
compile_fails "duplicate domain" "ok.example $ONION2.onion" "duplicate entry for \"ok\.example\" \(first at line 2\)"
compile_fails "port conflict" "y.example $ONION1.onion:2525" "has port 2525 here but no port at line 2"
compile_fails "no target" "lonely.example" "has no onion target"
compile_fails "bad domain" "b@d.example $ONION1.onion" "contains '@'"
compile_fails "long line" "x.example $(head -c 5000 /dev/zero | tr '\0' a)" "line longer than"
ls "$T" | grep -q 'domains.cdb.tmp'
ok $((! $?)) "no temporary file is left behind after failures"

printf 'Mapped.Example. %s.onion %s.onion:2525 # two MX\n.Wild.Example %s.onion:2525\n' \
	"$ONION1" "$ONION2" "$ONION2" >"$T/domains"
out=$("$MAPTOOL" "$T/domains")
is "$?" 0 "a good map compiles"
like "$out" "2 domains, 2 onions" "and says what it holds"
out=$("$MAPTOOL" -q mapped.example "$T/domains.cdb")
like "$out" "MX 10 $ONION1\.onion \(address 2[45][0-9]\." "-q DOMAIN: first MX is the first onion, with its address"
like "$out" "MX 20 $ONION2\.onion port 2525" "-q DOMAIN: second MX with its port"
out=$("$MAPTOOL" -q x.y.WILD.example. "$T/domains.cdb")
like "$out" "entry \.wild\.example" "-q names the wildcard entry that matched"
addr=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
out=$("$MAPTOOL" -q "$addr" "$T/domains.cdb")
like "$out" "$addr is $ONION2\.onion port 2525 \(serves mapped\.example and others\)" "-q ADDRESS: the onion behind a synthetic address"
"$MAPTOOL" -q nothere.example "$T/domains.cdb" >/dev/null 2>&1
is "$?" 1 "-q for an unmapped domain exits 1"
"$MAPTOOL" -q x "$T/nonexistent.cdb" >/dev/null 2>&1
is "$?" 3 "-q on a missing map exits 3"
"$MAPTOOL" >/dev/null 2>&1
is "$?" 2 "no arguments: usage, exit 2"
like "$("$MAPTOOL" -h)" "usage: onionmx-map" "-h prints the usage"

"$MAPTOOL" -r 10.0.0.0/8 "$T/domains" >/dev/null
out=$("$MAPTOOL" -q mapped.example "$T/domains.cdb")
like "$out" "address 10\." "-r puts synthetic addresses in another range"
out=$("$MAPTOOL" -r 10.0.0.1/8 "$T/domains" 2>&1)
like "$out" "range \"10\.0\.0\.1/8\" is not NET/PREFIX" "a bad range is refused"
rm -f "$T/domains.cdb" # back to the default range: only afresh (it was left just now)
"$MAPTOOL" "$T/domains" >/dev/null

# Same onions in another order: same addresses (no hidden state, no order effect).
a1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb")
printf '.wild.example %s.onion:2525\nmapped.example %s.onion %s.onion:2525\n' "$ONION2" "$ONION1" "$ONION2" >"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
is "$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb")" "$a1" "line order does not change an onion's address"

# The wrapper: checks, then preloads the library and the config it checked.
out=$(wrapper -c "$ONIONMX_CONF" sh -c 'echo "$LD_PRELOAD|$ONIONMX_CONF"')
like "$out" "libonionmx\.so\|$ONIONMX_CONF$" "the wrapper preloads the library and passes the config path"
out=$(cd "$T" && wrapper -c onionmx.conf sh -c 'echo "$ONIONMX_CONF"')
is "$out" "$T/onionmx.conf" "a relative -c is made absolute for the command"
out=$(wrapper -c "$ONIONMX_CONF" -t)
like "$out" "ok$" "onionmx -t: config and map ok"
wrapper -c "$ONIONMX_CONF" /nonexistent/command 2>/dev/null
is "$?" 127 "a command that does not exist: 127, like a shell"
wrapper 2>/dev/null
is "$?" 2 "no command: usage, exit 2"

# With discovery on, the wrapper also checks what discovery needs.
cp "$ONIONMX_CONF" "$T/disc.conf"
printf 'discover = srv\ncache = %s/cache\n' "$T" >>"$T/disc.conf"
out=$(wrapper -c "$T/disc.conf" -t 2>&1)
like "$out" "ok$" "onionmx -t with discovery: ok"
like "$(stat -c '%a %U' "$T/cache" 2>&1)" "^600 root$" "and it created the shared cache as the library would"
cp "$T/domains" "$T/overlap" && "$MAPTOOL" -r 248.0.0.0/6 "$T/overlap" >/dev/null
sed "s|^map = .*|map = $T/overlap.cdb|" "$T/disc.conf" >"$T/overlap.conf"
out=$(wrapper -c "$T/overlap.conf" -t 2>&1)
is "$?" 78 "a map whose range overlaps discover_range: exit 78"
like "$out" "overlap\.cdb: its synthetic range overlaps discover_range 248\.0\.0\.0/8" "naming the map and the range"
printf 'cache = %s/no/such/dir/cache\n' "$T" >>"$T/disc.conf"
out=$(wrapper -c "$T/disc.conf" -t 2>&1)
like "$out" "warning: .*no/such/dir/cache: .*cache of their own" "an unusable cache: a warning naming it"
like "$out" "ok$" "but the check passes (discovery still works, unshared)"

# A map of format 2 (the previous onionmx-map's; tests/unit/map2/small.cdb maps
# example.org to two onions) installed under this onionmx: read as it is by
# every reader, no deferral; rebuilding over it writes format 3.
V2A=5drnklav7rmepoy5besnii735qjzftfs67tzqttnnfk5eeew7osnhryd V2B=rwa6gx4witaedkl3i6qtlsvyytlculnjrco5xk5piruzgt2dbe65ysad
cp "$TOP/tests/unit/map2/small.cdb" "$T/v2.cdb"
sed "s|^map = .*|map = $T/v2.cdb|" "$ONIONMX_CONF" >"$T/v2.conf"
like "$(wrapper -c "$T/v2.conf" -t 2>&1)" "ok$" "format 2: onionmx -t passes"
out=$("$MAPTOOL" -q example.org "$T/v2.cdb")
like "$out" "MX 20 $V2B\.onion port 2525" "format 2: onionmx-map -q answers"
"$MAPTOOL" -u "$T/v2.unbound" "$T/v2.cdb" >/dev/null 2>&1
ok $? "format 2: onionmx-map -u writes the unbound include"
like "$(cat "$T/v2.unbound")" "local-data: \"$V2A\.onion\. [0-9]+ IN A 2[45][0-9]\." "format 2: with its onions' addresses"
out=$(ONIONMX_CONF=$T/v2.conf shim "$H/resolv_probe" nsearch example.org MX 2>&1)
like "$out" "$V2A\.onion" "format 2: the library answers the mapped domain's MX with its onion"
a2=$("$MAPTOOL" -q "$V2B.onion" "$T/v2.cdb")
like "$a2" "address 2[45][0-9]\." "format 2: and an onion's address (control for the rebuild)"
printf 'example.org %s.onion %s.onion:2525\n' "$V2A" "$V2B" >"$T/v2"
"$MAPTOOL" "$T/v2" >/dev/null
is "$(head -c 2066 "$T/v2.cdb" | tail -c 2)" "3 " "format 2: rebuilding over it writes format 3"
is "$("$MAPTOOL" -q "$V2B.onion" "$T/v2.cdb")" "$a2" "format 2: and the onion keeps its address"

# Quiet: stdout of a command under the library is its own, and nothing lands
# on stderr with log = syslog.
sed -i 's/^log = .*/log = syslog/' "$ONIONMX_CONF"
out=$(shim printf 'hello\n' 2>"$T/stderr")
is "$out" "hello" "stdout of a program under the library is untouched"
is "$(cat "$T/stderr")" "" "and with log = syslog nothing is written to its stderr"
out=$(shim "$H/resolv_probe" nsearch "$ONION1.onion" A 2>&1 >/dev/null)
is "$out" "" "nor while it answers lookups"
done_testing
