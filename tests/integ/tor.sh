#!/bin/bash
# Through real Tor: a private Tor network in the test's namespace (tests/tornet.sh),
# with a second client tor for socks = A B (the mail goes on when one stops),
# two onion services in front of SMTP sinks. swaks under the wrapper delivers by
# MX lookup and with --server ONION; blocking and non-blocking connect() read the
# sink's banner; each onion travels with its own isolation credentials on its
# own circuit (seen through Tor's control port); Tor's own refusals (no such
# service, an unserved port, the service or Tor down) give the documented errno
# and a named cause; nothing reaches the DNS server or the clearnet MX. Tor
# agrees with onionmx-map's key check: the keys onionmx-map refuses (off the
# curve, or a torsion point) get 0xF6 from Tor, the keys it accepts 0xF0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../tornet.sh"
enter_netns "$@"
start_dns || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_sink onion2 127.0.0.41:25 || exit 1
start_sink clearnet 127.0.0.20:25 || exit 1
if ! tornet_start; then
	ok 1 "the private Tor network starts and its client reaches both onion services"
	done_testing
	exit 1
fi
ok 0 "the private Tor network starts and its client reaches both onion services (${TORNET_READY}s)"

# Onions Tor answers for without a service: a real ed25519 key nobody serves,
# and a key that is a hash, not a curve point (valid checksum all the same).
openssl genpkey -algorithm ed25519 -out "$T/nosvc.pem" 2>/dev/null
NOSVC=$(openssl pkey -in "$T/nosvc.pem" -pubout -outform DER | tail -c 32 | "$H/onion_from_key")
BADKEY=$("$H/onion_gen" --not-a-point tor-not-a-point)
GENKEY=$("$H/onion_gen" tor-generated)            # [hash]B: what the tests' maps use
TORSION=$("$H/onion_gen" --torsion tor-torsion)   # a curve point, not in the subgroup
OFFCURVE=$("$H/onion_gen" --off-curve tor-off-curve)
like "$NOSVC" '^[a-z2-7]{55}d$' "an onion from a fresh ed25519 key (openssl)"
is "$(tail -c 32 "$TORNET/hs/onion1/hs_ed25519_public_key" | "$H/onion_from_key")" "$TOR_ONION1" \
	"onion_from_key derives the address Tor itself gave onion 1"

cat >"$T/domains" <<EOM
mapped.example  $TOR_ONION1.onion
second.example  $TOR_ONION2.onion
nosvc.example   $NOSVC.onion
EOM
echo "badkey.example  $BADKEY.onion" >"$T/badkey"
out=$("$MAPTOOL" "$T/badkey" 2>&1)
like "$out" "$T/badkey:1: .*not a valid ed25519 point: Tor would refuse it" \
	"onionmx-map refuses an onion whose key Tor refuses, saying so"
"$MAPTOOL" "$T/domains" >/dev/null || exit 1
cat >"$T/onionmx.conf" <<EOM
socks = 127.0.0.1:9050
map = $T/domains.cdb
timeout = 20
log = stderr
log_level = info
EOM
export ONIONMX_CONF=$T/onionmx.conf
addr_of() { "$MAPTOOL" -q "$1" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p'; }
ADDR1=$(addr_of "$TOR_ONION1.onion")

# What Tor does with a pipelined handshake (raw SOCKS, no library): reported, and
# the cases the library relies on asserted.
out=$(tornet_socks "$TOR_ONION1.onion" 25)
like "$out" "^banner: 220 onion " \
	"Tor answers greeting + CONNECT sent in one write (no authentication) in full"
printf '%s\n' "$out" | sed -n 's/^raw /# pipelined, no auth: Tor sent /p'
out=$(tornet_socks -2 -u "$TOR_ONION1.onion:onionmx" "$TOR_ONION1.onion" 25)
like "$out" "^banner: 220 onion " \
	"greeting alone, then authentication + CONNECT in one write: Tor answers each"
printf '%s\n' "$out" | sed -n 's/^raw /# greeting, then auth + CONNECT: Tor sent /p'
out=$(tornet_socks -u "$TOR_ONION1.onion:onionmx" "$TOR_ONION1.onion" 25)
printf '%s\n' "$out" | sed -n 's/^raw /# greeting + auth + CONNECT in one write: Tor sent /p'
printf '%s\n' "$out" | grep -q '^method: expected' &&
	echo "# (Tor 0.4.9 drops its method selection (05 02) when greeting and authentication arrive together)"
# What the library sends with isolation (tor.c): the three in one write. Tor
# answers the authentication and the CONNECT, its method selection maybe left
# out (the parser takes both forms), and the onion's banner follows.
like "$out" "^raw (0502)?01000500[0-9a-f]*323230" \
	"greeting + authentication + CONNECT in one write: Tor answers the authentication and the CONNECT, then the banner comes"

# The library, default configuration (per-onion isolation), with Tor's events recorded.
tornet_events "$T/events" STREAM
out=$(shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ok" "blocking connect() to onion 1 through real Tor succeeds"
like "$out" "^banner: 220 onion " "and reads onion 1's SMTP banner"
like "$out" "^peer: $ADDR1 port 25" "getpeername gives the synthetic address"
like "$(cat "$T/stderr")" "connected to $TOR_ONION1\.onion port 25 \(MX of mapped\.example\) via Tor 127\.0\.0\.1:9050" \
	"the log names the onion, its domain and Tor"
out=$(shim "$H/connect_probe" -n "$TOR_ONION1.onion" 25 2>&1)
like "$out" "^connect: ok" "non-blocking connect() (poll, SO_ERROR) to onion 1 succeeds"
like "$out" "^banner: 220 onion " "non-blocking: onion 1's banner read"
out=$(shim "$H/connect_probe" -n "$TOR_ONION2.onion" 25 2>&1)
like "$out" "^banner: 220 onion2 " "non-blocking connect() to onion 2 reads onion 2's banner"

# Isolation as Tor saw it: each stream's SOCKS credentials and circuit.
succeeded() { tr -d '\r' <"$T/events" | grep -E "^650 STREAM [0-9]+ SUCCEEDED [0-9]+ $1\.onion:25 "; }
tornet_wait 5 succeeded "$TOR_ONION2" >/dev/null
tornet_events_stop
s1=$(succeeded "$TOR_ONION1")
s2=$(succeeded "$TOR_ONION2")
is "$(printf '%s\n' "$s1" | grep -c .)" 2 "Tor reports both connections to onion 1 as succeeded streams"
is "$(printf '%s\n' "$s1" | grep -c "SOCKS_USERNAME=\"$TOR_ONION1\.onion\" SOCKS_PASSWORD=\"onionmx\"")" 2 \
	"both carried onion 1's isolation credentials (username = the onion)"
like "$s2" "SOCKS_USERNAME=\"$TOR_ONION2\.onion\" SOCKS_PASSWORD=\"onionmx\"" \
	"onion 2's stream carried onion 2's credentials"
c1=$(printf '%s\n' "$s1" | awk '{ print $5 }' | sort -u)
c2=$(printf '%s\n' "$s2" | awk '{ print $5 }' | sort -u)
is "$(printf '%s\n' "$c1" | grep -c .)" 1 "the two connections to onion 1 shared one circuit (isolation per onion, not per connection)"
shared=$(comm -12 <(printf '%s\n' "$c1" | sort) <(printf '%s\n' "$c2" | sort))
ok "$([ -n "$c1" ] && [ -n "$c2" ] && [ -z "$shared" ] && echo 0 || echo 1)" \
	"onions 1 and 2 travelled on different circuits (${c1//$'\n'/,} and ${c2//$'\n'/,})"
circuits=$(tornet_control "GETINFO circuit-status")
like "$(printf '%s\n' "$circuits" | grep "^$c1 ")" \
	"^$c1 BUILT .*PURPOSE=HS_CLIENT_REND .*REND_QUERY=$TOR_ONION1 .*SOCKS_USERNAME=\"$TOR_ONION1\.onion\"" \
	"circuit $c1 is a rendezvous circuit to onion 1, isolated by onion 1's username"

# isolate = no: no credentials; Tor then sees none.
echo "isolate = no" >>"$T/onionmx.conf"
tornet_events "$T/events" STREAM
out=$(shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>&1)
like "$out" "^banner: 220 onion " "isolate = no: connect() through real Tor reads onion 1's banner"
tornet_wait 5 succeeded "$TOR_ONION1" >/dev/null
tornet_events_stop
s1=$(succeeded "$TOR_ONION1")
like "$s1" "SUCCEEDED" "isolate = no: Tor reports the stream"
unlike "$s1" "SOCKS_USERNAME=|SOCKS_PASSWORD=" "isolate = no: and it carried no SOCKS credentials"
sed -i '/^isolate = no$/d' "$T/onionmx.conf"

# The resolver answers the MX with the onions; DNS is not asked.
out=$(shim "$H/resolv_probe" nsearch mapped.example MX)
like "$out" "^answer MX 10 $TOR_ONION1\.onion ttl=" "res_nsearch: the MX of mapped.example is onion 1"
out=$(shim "$H/resolv_probe" query second.example MX)
like "$out" "^answer MX 10 $TOR_ONION2\.onion ttl=" "res_query: the MX of second.example is onion 2"

# swaks under the wrapper: mail arrives at the onion sinks through Tor.
out=$(wrapper swaks --to user@mapped.example --server "$TOR_ONION1.onion" --from a@sender.example \
	--header "Subject: via Tor by name" --timeout 30 2>&1)
like "$out" "<-  250 " "swaks --server ONION: onion 1 accepted the message through Tor"
is "$(sink_count onion)" 1 "swaks --server ONION: the message is at onion 1's sink"
out=$(wrapper swaks --to user@second.example --from a@sender.example \
	--header "Subject: via Tor by MX" --timeout 30 2>&1)
like "$out" "=== Trying $TOR_ONION2\.onion" "swaks (its own MX lookup) chose onion 2"
like "$out" "<-  250 " "swaks by MX lookup: onion 2 accepted the message through Tor"
is "$(sink_count onion2)" 1 "swaks by MX lookup: the message is at onion 2's sink"
grep -l "Subject: via Tor by MX" "$T"/onion2/*.eml >/dev/null 2>&1
ok $? "the message at onion 2's sink is the one sent by MX lookup"

# Tor's real refusals: errno and cause, blocking and non-blocking.
# Two client tors (socks = A B): the onion's first one dies, the other carries
# the connection, and the next connection does not ask the dead one again.
first_tor() { # first_tor ONION N: tor.c's rule (its first four base32 characters)
	local b32=abcdefghijklmnopqrstuvwxyz234567 v=0 i c p
	for i in 0 1 2 3; do
		c=${1:$i:1}
		p=${b32%%"$c"*}
		v=$((v * 32 + ${#p}))
	done
	echo $((v % $2))
}
mkdir -p "$TORNET/client2"
chmod 700 "$TORNET/client2"
{
	tornet_common client2 | sed '/^SocksPort 0$/d'
	echo "SocksPort 127.0.0.1:9052 ExtendedErrors"
} >"$TORNET/client2/torrc"
tornet_launch client2
sed 's/^socks = .*/socks = 127.0.0.1:9052/; s/^timeout = .*/timeout = 15/' "$T/onionmx.conf" >"$T/client2.conf"
client2_reaches() { ONIONMX_CONF=$T/client2.conf shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>/dev/null | grep -q '^banner: 220'; }
if tornet_wait "$TORNET_TIMEOUT" client2_reaches; then
	ok 0 "a second client tor (SocksPort 9052) reaches onion 1"
	if [ "$(first_tor "$TOR_ONION1" 2)" = 0 ]; then two="127.0.0.1:9052 127.0.0.1:9050"; else two="127.0.0.1:9050 127.0.0.1:9052"; fi
	sed "s/^socks = .*/socks = $two/" "$T/onionmx.conf" >"$T/two.conf"
	echo "tor_health = $T/tor.health" >>"$T/two.conf"
	out=$(ONIONMX_CONF=$T/two.conf shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
	like "$out" "^banner: 220 " "socks = two tors: connected"
	like "$(cat "$T/stderr")" "via Tor 127\.0\.0\.1:9052 in" "the onion's own Tor (the second client) carried it"
	tornet_stop client2
	out=$(ONIONMX_CONF=$T/two.conf shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
	like "$out" "^banner: 220 " "its Tor stopped: the mail still goes through"
	like "$(cat "$T/stderr")" "Tor 127\.0\.0\.1:9052: .*trying the next Tor" "the stopped Tor is named in the log"
	like "$(cat "$T/stderr")" "via Tor 127\.0\.0\.1:9050 in" "the other client tor carried it"
	out=$(ONIONMX_CONF=$T/two.conf shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
	like "$out" "^banner: 220 " "the next connection: through the other tor"
	unlike "$(cat "$T/stderr")" "Tor 127\.0\.0\.1:9052:" "... without asking the stopped one again (shared health)"
	like "$(cat "$T/stderr")" "via Tor 127\.0\.0\.1:9050 in" "(control: the log of that connection was read)"
else
	ok 1 "a second client tor (SocksPort 9052) reaches onion 1"
	ONIONMX_CONF=$T/client2.conf shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>&1 | sed 's/^/#   /'
	tail -5 "$TORNET/client2/notice.log" | sed 's/^/#   client2: /'
fi

refused() { # refused HOST PORT WANT-ERRNO WANT-CAUSE REPLY WHAT
	local nb out
	for nb in "" -n; do
		out=$(shim "$H/connect_probe" $nb "$1" "$2" 2>"$T/stderr")
		like "$out" "^connect: $3" "$6${nb:+ (non-blocking)}: connect fails with $3"
		like "$(cat "$T/stderr")" "cannot connect to $1 port $2 .*: $4 \(SOCKS reply $5\)" \
			"$6${nb:+ (non-blocking)}: the log says \"$4\" (Tor's reply $5)"
	done
}
refused "$NOSVC.onion" 25 EHOSTUNREACH "onion service descriptor not found" 0xf0 \
	"a valid ed25519 onion with no service"
# Tor's own verdict on keys, asked directly (no library): the same as the check.
tor_reply() { tornet_socks -t 30 "$1.onion" 25 | sed -n 's/^reply //p'; }
is "$(tor_reply "$GENKEY")" f0 "Tor accepts a key onion_gen derives ([hash]B): 0xF0, no descriptor"
is "$(tor_reply "$TORSION")" f6 "Tor refuses a torsion point with a right checksum: 0xF6 (onionmx-map does too)"
is "$(tor_reply "$OFFCURVE")" f6 "Tor refuses 32 bytes off the curve: 0xF6 (onionmx-map does too)"
is "$(tor_reply "$BADKEY")" f6 "Tor refuses onion_gen --not-a-point's key: 0xF6"
for k in "$GENKEY" "$TORSION" "$OFFCURVE"; do printf 'k.example %s.onion\n' "$k" >"$T/one"; "$MAPTOOL" "$T/one" >/dev/null 2>&1; printf '%s ' $?; done >"$T/verdicts"
is "$(cat "$T/verdicts")" "0 3 3 " "onionmx-map: accepts the first, refuses the other two"
# Every torsion coset: RFC 8032 test 1's key plus each point of order dividing 8
# ([k]T8, k = 0..7, as in tests/unit/test_ed25519.c): Tor and onionmx-map both
# accept k = 0 only. Then three non-canonical encodings of the identity (y = 1
# with the sign bit, y = p + 1 either sign): Tor accepts them (its decoders
# reduce y and ignore -0; only 01 00..00 is refused as the identity),
# onionmx-map refuses them as every small-order point; reported, not asserted.
key_label() { perl -e 'print pack("H*", $ARGV[0])' "$1" | "$H/onion_from_key"; }
tor_v= map_v=
for hex in d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a \
	9158312a9a8d6e3b34c891d6d61444f8b8211c5117ebad15bdb0bd68b07e0245 \
	ad38a8f0b22ab7ca46ecee7bbef12b5f336c182652fac34392f859dbd9666a7d \
	3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d \
	16a567fe7d4ef5482ab4012c369bf8c5f11e8d0c2559dcda50fde59708f8aee5 \
	5ca7ced5657291c4cb376e2929ebbb0747dee3aee81452ea424f42974f81fdba \
	40c7570f4dd54835b9131184410ed4a0cc93e7d9ad053cbc6d07a62426999582 \
	b2a4b8a3b47d22ea8d86603ab90b393fc1b87399ab55b3806ba4cb815cd509f2; do
	label=$(key_label "$hex")
	tor_v+="$(tor_reply "$label") "
	printf 'k.example %s.onion\n' "$label" >"$T/one"
	"$MAPTOOL" "$T/one" >/dev/null 2>&1
	map_v+="$? "
done
is "$tor_v" "f0 f6 f6 f6 f6 f6 f6 f6 " "Tor on a key + each 8-torsion point: only + identity accepted"
is "$map_v" "0 3 3 3 3 3 3 3 " "onionmx-map gives the same verdicts"
for hex in 0100000000000000000000000000000000000000000000000000000000000080 \
	eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f \
	eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff; do
	label=$(key_label "$hex")
	printf 'k.example %s.onion\n' "$label" >"$T/one"
	"$MAPTOOL" "$T/one" >/dev/null 2>&1
	rc=$?
	echo "# identity encoded as $hex: Tor replies $(tor_reply "$label"), onionmx-map exits $rc"
done
refused "$TOR_ONION1.onion" 26 ECONNREFUSED "connection refused by the onion service" 0x05 \
	"a port onion 1 does not serve"
stop_pid "$(cat "$T/onion2.pid")"
refused "$TOR_ONION2.onion" 25 ECONNREFUSED "general SOCKS server failure" 0x01 \
	"onion 2's service up, its SMTP server down"

# The onion-service tor itself down: Tor fails the connection and says why. Seen:
# 0x01 at first (the open rendezvous circuit dies), then 0xF2 as every
# introduction point refuses; or Tor holds the request unanswered (an
# introduction point still acknowledged; Tor waits up to its SocksTimeout, 2 min)
# and the library's timeout ends it.
before=$(sink_count onion)
sed -i 's/^timeout = .*/timeout = 12/' "$T/onionmx.conf"
tornet_stop hs
for attempt in 1 2 3; do
	start=$(date +%s)
	out=$(shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
	log=$(cat "$T/stderr")
	like "$out" "^connect: (EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT)$" \
		"onion service down, attempt $attempt: connect fails ($(echo "$out" | sed -n 's/^connect: //p'), $(( $(date +%s) - start ))s)"
	like "$log" "cannot connect to $TOR_ONION1\.onion port 25 .*: [a-z].* (\(SOCKS reply 0x[0-9a-f]{2}\)|timed out)" \
		"onion service down, attempt $attempt: the log names the cause: $(echo "$log" | sed -n 's/.*via Tor [^ ]*: //p')"
done
is "$(sink_count onion)" "$before" "nothing more arrived at onion 1's sink"

# Tor down.
tornet_stop client
out=$(shim "$H/connect_probe" "$TOR_ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ENETDOWN" "client tor down: ENETDOWN"
like "$(cat "$T/stderr")" "is Tor running" "client tor down: the log says so"

is "$(sink_connections clearnet)" 0 "the clearnet MX of mapped.example saw no connection"
unlike "$(dns_queries)" "onion|mapped|second|nosvc|badkey" \
	"the DNS server saw no query about the onions or the mapped domains"

# Control: the same swaks without onionmx gets nowhere, and asks DNS for the onion.
before=$(sink_count onion2)
out=$(swaks --to user@second.example --server "$TOR_ONION2.onion" --from a@sender.example --timeout 5 2>&1)
unlike "$out" "<-  250 " "without onionmx, swaks cannot deliver to the onion (control)"
is "$(sink_count onion2)" "$before" "without onionmx, nothing more arrived at onion 2's sink"
tornet_wait 5 eval 'dns_queries | grep -q "$TOR_ONION2"'
like "$(dns_queries)" "A $TOR_ONION2\.onion" "without onionmx, the onion name went to the DNS server (the check above can fail)"
done_testing
