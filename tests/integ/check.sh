#!/bin/bash
# onionmx-check: decides each domain's route in the library's order (static map,
# SRV discovery, clearnet MX) and says why; lists every ignored SRV target with
# its reason; tells signed from unsigned answers and an untrusted resolver;
# defers as the library would (SRV failure, broken config); probes onions
# through the SOCKS server; the terse mode and the exit codes (most severe of
# several domains); --publish prints the SRV record or names what is wrong.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
OMX_TIMEOUT=2
CHECK=${CHECK_BIN:-$B/tools/onionmx-check} # CHECK_BIN: another build of the tool
check() { "$CHECK" "$@"; }
restart_dns() { # dnsmasq again, with the records below
	stop_pid "$(cat "$T/dnsmasq.pid" 2>/dev/null)"
	rm -f "$T/dnsmasq.pid"
	start_dns "${DNS_ARGS[@]}"
}

setup_map || exit 1
ONION3=$("$H/onion_gen" test-three)
ONION4=$("$H/onion_gen" test-four)
V2=expyuzz4wqqyqhjn
BADSUM=a${ONION3#?} # first character changed: the key no longer matches the checksum
[ "$BADSUM" = "$ONION3" ] && BADSUM=b${ONION3#?}
# many.example: 40 MX records, each naming a different onion in the map (more
# than the check tool keeps: it lists the first 32 and counts the rest).
MANY=()
for i in $(seq 1 40); do
	MANY+=("$("$H/onion_gen" "many-$i")")
	echo "many$i.example ${MANY[-1]}.onion" >>"$T/domains"
done
"$MAPTOOL" "$T/domains" >/dev/null || exit 1

# SERVFAIL for one name: dnsmasq forwards it to this responder, which answers
# every query with SERVFAIL.
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:5300", Proto => "udp") or die "$!";
	open(my $p, ">", $ARGV[0]) or die; print $p "$$\n"; close $p;
	while (defined $s->recv(my $q, 512)) {
		next if length($q) < 12;
		substr($q, 2, 2) = pack("CC", ord(substr($q, 2, 1)) | 0x80, (ord(substr($q, 3, 1)) & 0xf0) | 2);
		$s->send($q);
	}' "$T/servfail.pid" &
wait_pidfile "$T/servfail.pid" || exit 1

DNS_ARGS=(--local-ttl=600
	--srv-host=_onion-mx._tcp.srv.example,$ONION3.onion,2525,10,5
	--srv-host=_onion-mx._tcp.srv.example,$ONION4.onion,25,20,0
	--mx-host=srv.example,mx.plain.example,10
	--srv-host=_onion-mx._tcp.bad.example,mail.bad.example,25,10,5
	--srv-host=_onion-mx._tcp.bad.example,$V2.onion,25,20,5
	--srv-host=_onion-mx._tcp.bad.example,$BADSUM.onion,25,30,5
	--mx-host=bad.example,mx.plain.example,10
	--server=/_onion-mx._tcp.servfail.example/127.0.0.1#5300
	--mx-host=servfail.example,mx.plain.example,10
	--mx-host=onionmx.example,$ONION1.onion,10
	--mx-host=onionmx.example,$ONION_UNMAPPED.onion,20
	--mx-host=unmapped.example,$ONION_UNMAPPED.onion,10
	--mx-host=mixed.example,$ONION1.onion,10
	--mx-host=mixed.example,mx.plain.example,20
	--host-record=nomx.example,127.0.0.31)
for i in $(seq 1 40); do DNS_ARGS+=(--mx-host=many.example,${MANY[i-1]}.onion,$((1000 - i))); done
start_dns "${DNS_ARGS[@]}" || exit 1
start_sink onion 127.0.0.40:25 || exit 1
CONF=$T/onionmx.conf
cp "$CONF" "$T/plain.conf"
with_discovery() { # with_discovery [KEY=VALUE...]: discover = srv plus those keys
	cp "$T/plain.conf" "$CONF"
	echo "discover = srv" >>"$CONF"
	for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}" >>"$CONF"; done
}

# --- the static map ---
out=$(check mapped.example)
is "$?" 0 "mapped domain: exit 0"
like "$out" "entry mapped\.example in $T/domains\.cdb" "mapped domain: names the map entry and the map"
like "$out" "MX:  +10 $ONION1\.onion port 25 .*synthetic address 24[0-7]\." "mapped domain: its onion MX with port and synthetic address"
like "$out" "route: +onion, from the static map" "mapped domain: route onion from the map"
out=$(check a.b.wild.example)
like "$out" "entry \.wild\.example \(covers the subdomains of wild\.example\)" "subdomain: names the wildcard entry that matched"
like "$out" "$ONION2\.onion port 2525" "subdomain: the target's port from the map"
is "$(check -t mapped.example a.b.wild.example)" \
	"mapped.example onion map $ONION1.onion:25
a.b.wild.example onion map $ONION2.onion:2525" "terse: one line per mapped domain"
is "$(dns_queries | grep -ci 'wild\.example\|mapped\.example')" 0 "no DNS query about a mapped domain (the map answers, as in the library)"

# --- clearnet MX ---
out=$(check plain.example)
is "$?" 1 "unmapped domain, no SRV: exit 1"
like "$out" "mx: +10 mx\.plain\.example" "unmapped domain: its clearnet MX is listed"
like "$out" "route: +clearnet" "unmapped domain: route clearnet"
like "$out" "discovery is off" "discovery off: says so"
is "$(check -t plain.example)" "plain.example clearnet mx mx.plain.example" "terse: clearnet line"
out=$(check onionmx.example)
like "$out" "MX host $ONION1\.onion is an onion name in the map: .*over Tor" "an MX host that is a mapped onion: noted"
like "$out" "MX host $ONION_UNMAPPED\.onion is an onion name not in the map: .*temporary failure" "an MX host that is an unmapped onion: noted, with what the library does"
out=$(check -t onionmx.example)
is "$?" 0 "MX hosts all onions, one in the map: exit 0"
is "$out" "onionmx.example onion mx $ONION1.onion:25" "terse: onion route through the MX records"
is "$(check -t unmapped.example)" "unmapped.example deferred mx MX hosts are onions not in the map" "MX host an onion not in the map: deferred"
out=$(check mixed.example)
is "$?" 1 "an onion and a clearnet MX host: exit 1"
like "$out" "route: +clearnet: .*may choose them over the onions" "an onion and a clearnet MX host: clearnet, and why"
is "$(check -t nomx.example)" "nomx.example clearnet mx nomx.example" "no MX records: implicit MX, the domain itself"
out=$(check -t nothere.example)
is "$?" 1 "NXDOMAIN: exit 1"
is "$out" "nothere.example clearnet mx (NXDOMAIN)" "terse: NXDOMAIN"
# 40 onion MX hosts in the map (an ASan stack-buffer-overflow in mx_route
# before: it kept 16): the first 32 by preference are listed, the rest counted.
out=$(check many.example 2>&1)
is "$?" 0 "40 mapped onion MX hosts: exit 0"
is "$(printf '%s\n' "$out" | grep -c '^  mx: ')" 40 "40 mapped onion MX hosts: all 40 MX records listed"
is "$(printf '%s\n' "$out" | grep '^  mx: ' | sed -n '1p;$p' | tr -s ' ' | tr '\n' ' ')" \
	" mx: 960 ${MANY[39]}.onion  mx: 999 ${MANY[0]}.onion " "40 MX hosts: listed by preference"
like "$out" "note: +8 onion MX hosts in the map after the first 32 are not listed" "40 MX hosts: says how many were left out"
unlike "$out" "ERROR: AddressSanitizer" "40 MX hosts: no AddressSanitizer report"
want="many.example onion mx"
for i in $(seq 40 -1 9); do want="$want ${MANY[i-1]}.onion:25"; done
is "$(check -t many.example)" "$want +8" "terse: the 32 most preferred onions, then +8 for the rest"
out=$(check srv.example)
like "$out" "publishes _onion-mx\._tcp records, but discovery is off" "discovery off, SRV published: says so"
like "$out" "route: +clearnet" "discovery off: route still clearnet"

# --- SRV discovery ---
with_discovery
mx_before=$(dns_queries | grep -c 'MX srv\.example')
out=$(check srv.example)
is "$?" 0 "SRV with valid onions and discover = srv: exit 0"
like "$out" "SRV: +priority 10 weight 5 port 2525 $ONION3\.onion" "SRV: first record with priority, weight and port"
like "$out" "SRV: +priority 20 weight 0 port 25 $ONION4\.onion" "SRV: second record"
like "$out" "order: +$ONION3\.onion:2525, $ONION4\.onion:25" "SRV: the order the MTA will try"
like "$out" "dnssec: +unsigned \(no AD bit\); srv_dnssec = prefer" "SRV: DNSSEC status and policy"
like "$out" "ttl: +600 s" "SRV: the TTL"
like "$out" "route: +onion, from SRV discovery \(unsigned\)" "SRV: route onion"
unlike "$out" "cannot be trusted" "loopback nameserver: the AD bit is trusted, no warning"
is "$(check -t srv.example)" "srv.example onion srv(unsigned) $ONION3.onion:2525 $ONION4.onion:25" "terse: SRV line"
# The MX is asked once per run, only to look for DANE (an unsigned SRV answer
# under prefer must not override a validated MX with TLSA): never used.
is "$(dns_queries | grep -c 'MX srv\.example')" "$((mx_before + 2))" "an onion from SRV: the clearnet MX is asked only for the DANE check (once per run)"
like "$(dns_queries)" "TXT _mta-sts\.srv\.example" "and the _mta-sts TXT for MTA-STS"

out=$(check bad.example)
is "$?" 1 "SRV with only invalid targets: exit 1"
like "$out" "srv: +_onion-mx\._tcp\.bad\.example SRV: unusable: no usable onion target" "invalid targets: status unusable"
like "$out" "ignored: mail\.bad\.example: not an onion name" "ignored: a clearnet name, with the reason"
like "$out" "ignored: $V2\.onion: v2 onion address" "ignored: a v2 onion, with the reason"
like "$out" "ignored: $BADSUM\.onion: bad checksum" "ignored: a bad checksum, with the reason"
like "$out" "mx: +10 mx\.plain\.example" "invalid targets: falls back to the MX"
like "$out" "route: +clearnet" "invalid targets: route clearnet"

out=$(check plain.example)
like "$out" "_onion-mx\._tcp\.plain\.example SRV: none: no _onion-mx\._tcp record \(NXDOMAIN\)" "no SRV: none, and why"
like "$out" "route: +clearnet" "no SRV: clearnet"

out=$(check servfail.example)
is "$?" 2 "SERVFAIL for the SRV: exit 2"
like "$out" "SRV: tempfail: SERVFAIL" "SERVFAIL: named"
like "$out" "route: +deferred: .*srv_failure = defer" "SERVFAIL: deferred, and why"
is "$(check -t servfail.example | cut -d' ' -f1-4)" "servfail.example deferred srv SERVFAIL" "terse: deferred line"
with_discovery srv_failure=mx
out=$(check servfail.example)
is "$?" 1 "SERVFAIL with srv_failure = mx: exit 1"
like "$out" "srv_failure = mx: .*uses the MX" "srv_failure = mx: says so"
is "$(check -t servfail.example)" "servfail.example clearnet mx mx.plain.example" "srv_failure = mx: clearnet MX"

with_discovery srv_dnssec=require
out=$(check srv.example)
is "$?" 1 "srv_dnssec = require, unsigned answer: exit 1"
like "$out" "unusable: unsigned answer: srv_dnssec = require" "require + unsigned: the records are not used, and why"

# The map's range overlapping discover_range stops discovery, as in the library.
rm -f "$T/domains.cdb" # a range overlapping the map's own: only afresh
"$MAPTOOL" -r 240.0.0.0/4 "$T/domains" >/dev/null
with_discovery
out=$(check srv.example)
is "$?" 2 "map range overlapping discover_range: exit 2"
like "$out" "discovery cannot run: the map's synthetic range 240\.0\.0\.0/4 overlaps discover_range" "overlap: named"
rm -f "$T/domains.cdb" # back to the default range: only afresh
"$MAPTOOL" "$T/domains" >/dev/null

# Several domains: the most severe exit code; terse: exactly one line each.
with_discovery
out=$(check -t mapped.example plain.example srv.example bad.example nothere.example)
is "$?" 1 "mapped + clearnet: exit 1"
is "$(printf '%s\n' "$out" | wc -l)" 5 "terse: one line per domain"
is "$(printf '%s\n' "$out" | awk '{ print $1 ":" $2 ":" $3 }' | tr '\n' ' ')" \
	"mapped.example:onion:map plain.example:clearnet:mx srv.example:onion:srv(unsigned) bad.example:clearnet:mx nothere.example:clearnet:mx " \
	"terse: fields DOMAIN ROUTE SOURCE"
check -t mapped.example servfail.example plain.example >/dev/null
is "$?" 2 "deferred + clearnet + onion: exit 2"
check -t mapped.example srv.example >/dev/null
is "$?" 0 "map + SRV onions: exit 0"

# --- DNS down ---
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T/resolv.conf"
stop_pid "$(cat "$T/dnsmasq.pid")"
start=$(date +%s)
out=$(check srv.example)
is "$?" 2 "DNS server down: exit 2"
like "$out" "no reply \(timeout, or no nameserver reachable\)" "DNS down: no reply, named"
like "$out" "route: +deferred" "DNS down: deferred"
with_discovery srv_failure=mx
out=$(check -t srv.example)
is "$?" 2 "DNS down, srv_failure = mx: the MX lookup fails too: exit 2"
like "$out" "^srv\.example deferred mx no reply" "terse: deferred by the MX lookup"
ok $(($(date +%s) - start > 8)) "DNS down: answers within seconds"
check -t mapped.example >/dev/null
is "$?" 0 "DNS down: a mapped domain still has its onion route (no DNS needed)"
restart_dns || exit 1

# --- the resolver's AD bit: untrusted on a nameserver not on this host ---
ip addr add 192.0.2.53/32 dev lo
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
	--listen-address=192.0.2.53 --bind-interfaces --port=53 --local=/example/ \
	--pid-file="$T/dnsmasq2.pid" --srv-host=_onion-mx._tcp.srv.example,$ONION3.onion,2525,10,5 &&
	wait_pidfile "$T/dnsmasq2.pid"
printf 'nameserver 192.0.2.53\n' >"$T/resolv.conf"
with_discovery
out=$(check srv.example)
like "$out" "AD bit cannot be trusted from this resolver.*options trust-ad" "non-local nameserver: the AD bit cannot be trusted, and the fix"
like "$out" "route: +onion, from SRV discovery \(unsigned\)" "non-local nameserver, prefer: unsigned records still used"
printf 'nameserver 192.0.2.53\noptions trust-ad\n' >"$T/resolv.conf"
unlike "$(check srv.example)" "cannot be trusted" "options trust-ad: no warning"
printf 'nameserver 127.0.0.1\n' >"$T/resolv.conf"

# --- DNSSEC: signed, bogus (validation fails: SERVFAIL) ---
if type start_dnssec_dns >/dev/null 2>&1 && command -v unbound >/dev/null && command -v nsd >/dev/null; then
	stop_pid "$(cat "$T/dnsmasq.pid")"
	rm -f "$T/dnsmasq.pid"
	start_dnssec_dns - <<EOM || exit 1
_onion-mx._tcp.a.secure.test. SRV 0 5 25 $ONION3.onion.
a.secure.test. MX 10 mx.secure.test.
_onion-mx._tcp.b.bogus.test. SRV 0 5 25 $ONION3.onion.
b.bogus.test. MX 10 mx.bogus.test.
EOM
	out=$(check a.secure.test)
	like "$out" "dnssec: +signed \(AD\)" "signed zone behind a local validating resolver: signed (AD)"
	is "$(check -t a.secure.test)" "a.secure.test onion srv(signed) $ONION3.onion:25" "terse: srv(signed)"
	with_discovery srv_dnssec=require
	check -t a.secure.test >/dev/null
	is "$?" 0 "srv_dnssec = require: a signed answer is used"
	out=$(check b.bogus.test)
	is "$?" 2 "bogus signature: exit 2"
	like "$out" "SERVFAIL \(server failure, or the answer failed DNSSEC validation\)" "bogus signature: SERVFAIL, and the likely cause"
	stop_dnssec_dns
else
	ok 0 "# SKIP unbound, nsd or start_dnssec_dns missing"
fi

# --- broken configuration ---
cp "$T/plain.conf" "$CONF"
printf 'socks = 127.0.0.1:9050\nbogus_key = 1\n' >"$T/broken.conf"
out=$(check -c "$T/broken.conf" mapped.example 2>"$T/stderr")
is "$?" 78 "broken config: exit 78"
like "$(cat "$T/stderr")" "^onionmx-check: $T/broken\.conf:2: unknown key \"bogus_key\"" "broken config: file and line on stderr"
like "$out" "route: +deferred: configuration broken" "broken config: every route deferred"
is "$(check -t -c "$T/broken.conf" mapped.example plain.example 2>/dev/null | awk '{ print $2, $3 }' | tr '\n' ' ')" \
	"deferred config deferred config " "terse: deferred config, one line each"
sed "s|^map = .*|map = $T/missing.cdb|" "$T/plain.conf" >"$T/nomap.conf"
check -c "$T/nomap.conf" plain.example >/dev/null 2>"$T/stderr"
is "$?" 78 "missing map: exit 78"
like "$(cat "$T/stderr")" "$T/missing\.cdb: No such file or directory" "missing map: named"
ONIONMX_CONF=$T/broken.conf check -t mapped.example >/dev/null 2>&1
is "$?" 78 "\$ONIONMX_CONF is read when there is no -c"
check -t -c "$T/broken.conf" mapped.example plain.example >/dev/null 2>&1
is "$?" 78 "broken config outranks clearnet"

# --- probing through the SOCKS server ---
restart_dns || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
out=$(check --probe mapped.example)
is "$?" 0 "--probe, onion answers: exit 0"
like "$out" "probe: +$ONION1\.onion:25 answered \"220 onion ESMTP sink\" in [0-9]+\.[0-9]{3} s" "--probe: the banner and the time taken"
like "$out" "result: +onion route ok" "--probe: result ok"
like "$(cat "$T/socks.log")" "CONNECT host=$ONION1\.onion port=25 atyp=3" "--probe: Tor is asked for the onion by name"
is "$(sink_connections onion)" 1 "--probe: one connection reached the onion sink"
# The probe is the library's own SOCKS client (tor.c): the same bytes, in the
# same writes, as an MTA's connect() under the library; isolation on and off.
raw_line() { grep '^RAW ' "$T/socks.log" | tail -1; }
declare -A raw
for iso in yes no; do
	{ grep -v '^isolate' "$ONIONMX_CONF"; echo "isolate = $iso"; } >"$T/iso-$iso.conf"
	: >"$T/socks.log"
	check -c "$T/iso-$iso.conf" -p mapped.example >/dev/null
	probe_raw=$(raw_line)
	: >"$T/socks.log"
	ONIONMX_CONF=$T/iso-$iso.conf shim "$H/connect_probe" "$ONION1.onion" 25 >/dev/null 2>&1
	mta_raw=$(raw_line)
	ok "$([[ $mta_raw == 'RAW \x05\x01'* ]]; echo $?)" "isolate = $iso: the SOCKS server logged connect()'s bytes (control)"
	is "$probe_raw" "$mta_raw" "isolate = $iso: --probe sends what connect() under the library sends, in the same writes"
	raw[$iso]=$probe_raw
done
ok "$([[ ${raw[yes]} == 'RAW \x05\x01\x02\x01>'"$ONION1"'.onion\x07onionmx\x05\x01\x00\x03>'* ]]; echo $?)" \
	"isolate = yes: the greeting, credentials (the onion, onionmx) and CONNECT in one write"
ok "$([[ ${raw[no]} == 'RAW \x05\x01\x00\x05\x01\x00\x03>'"$ONION1"'.onion\x00\x19' ]]; echo $?)" \
	"isolate = no: greeting and CONNECT in one write"
with_discovery
is "$(check -t -p srv.example mapped.example plain.example)" \
	"srv.example onion srv(unsigned) ok $ONION3.onion:2525 $ONION4.onion:25
mapped.example onion map ok $ONION1.onion:25
plain.example clearnet mx - mx.plain.example" "terse --probe: the PROBE field"
like "$(cat "$T/socks.log")" "host=$ONION3\.onion port=2525" "--probe: an SRV onion is asked for on its SRV port"
stop_socks
start_socks extended -c 0xF0 || exit 1
out=$(check -p mapped.example)
is "$?" 3 "--probe, Tor cannot find the onion: exit 3"
like "$out" "failed: Tor: onion service descriptor not found \(SOCKS reply 0xF0\)" "--probe: Tor's named error"
like "$out" "result: +onion route FAILED" "--probe: result failed"
is "$(check -t -p mapped.example)" "mapped.example onion map failed $ONION1.onion:25" "terse --probe: failed"
check -p -t mapped.example plain.example >/dev/null
is "$?" 3 "probe failure outranks clearnet"
with_discovery
check -p -t mapped.example servfail.example >/dev/null
is "$?" 2 "deferred outranks probe failure"
stop_socks
start_socks refuse -c 0x04 || exit 1
like "$(check -p mapped.example)" "Tor: .*\(SOCKS reply 0x04\)" "--probe: another SOCKS code, named"
stop_socks
out=$(check -p mapped.example)
is "$?" 3 "--probe, nothing on the SOCKS port: exit 3"
like "$out" "cannot connect to Tor's SOCKS port 127\.0\.0\.1:9050: Connection refused \(is Tor running\?\)" "--probe: Tor not running, named"
start_socks hang || exit 1
start=$(date +%s.%N)
out=$(check -p mapped.example)
is "$?" 3 "--probe, Tor never answers: exit 3"
like "$out" "no answer from Tor within 2 s" "--probe: the timeout, named"
ok "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print (b - a > 4) }')" "--probe: the timeout is honoured (no hang)"
stop_socks

# --- the shared discovery cache: the check and the library see the same answers ---
srv_q() { dns_queries | grep -c 'SRV _onion-mx\._tcp\.srv\.example'; }
with_discovery "cache=$T/shared.cache"
n0=$(srv_q)
out=$(check srv.example)
is "$(($(srv_q) - n0))" 1 "shared cache, first check: one SRV query (the DNS log sees it)"
unlike "$out" "shared discovery cache" "first check: a fresh answer, not the cache's"
ok "$([ -s "$T/shared.cache" ]; echo $?)" "the check opened the library's cache file"
out=$(check srv.example)
like "$out" "cache: +the answer below comes from the shared discovery cache $T/shared\.cache" "second check: the shared cache's answer"
like "$out" "route: +onion, from SRV discovery" "second check: the same route"
is "$(($(srv_q) - n0))" 1 "second check: no SRV query"
out=$(ONIONMX_CONF=$CONF shim "$H/resolv_probe" nquery srv.example MX 2>/dev/null)
like "$out" "$ONION3\.onion" "the library in another process answers with the discovered onion"
is "$(($(srv_q) - n0))" 1 "... from the cache the check filled: no SRV query"
rm -f "$T/shared.cache"
out=$(ONIONMX_CONF=$CONF shim "$H/resolv_probe" nquery srv.example MX 2>/dev/null)
is "$(($(srv_q) - n0))" 2 "(control: the library asks DNS when the cache is empty)"
like "$(check srv.example)" "shared discovery cache" "and the check then answers from what the library cached"

# --- --publish ---
mkdir -p "$T/hs"
echo "$ONION3.onion" >"$T/hs/hostname"
out=$(check --publish --domain Example.ORG. "$T/hs")
is "$?" 0 "--publish DIR: exit 0"
is "$(printf '%s\n' "$out" | head -1)" "_onion-mx._tcp.example.org. 3600 IN SRV 0 5 25 $ONION3.onion." "--publish DIR: the zone-file line from the hostname file"
like "$out" "^; once published, verify: onionmx-check --probe example\.org" "--publish: a reminder to check, as a zone-file comment"
out=$(check --publish --port 2525 --priority 10 --weight 0 --ttl 300 "$(echo "$ONION4" | tr a-z A-Z).onion")
is "$(printf '%s\n' "$out" | head -1)" "_onion-mx._tcp 300 IN SRV 10 0 2525 $ONION4.onion." "--publish ONION: relative owner without --domain, options applied"
like "$out" "HiddenServicePort 2525 " "--publish: the HiddenServicePort to match"
is "$(check --publish --domain x.example "$T/hs/hostname" | head -1)" "_onion-mx._tcp.x.example. 3600 IN SRV 0 5 25 $ONION3.onion." "--publish FILE: a hostname file itself"
echo "$BADSUM.onion" >"$T/hs/hostname"
out=$(check --publish --domain x.example "$T/hs" 2>&1)
is "$?" 65 "--publish, bad checksum in the hostname file: exit 65"
like "$out" "^onionmx-check: $T/hs/hostname: $BADSUM\.onion: bad checksum" "--publish: the error names the file, the onion and what is wrong"
echo "$V2.onion" >"$T/hs/hostname"
like "$(check --publish "$T/hs" 2>&1)" "$T/hs/hostname: $V2\.onion: v2 onion address" "--publish: a v2 onion in the hostname file, named"
NOPOINT=$("$H/onion_gen" --torsion check-nopoint)
out=$(check --publish "$NOPOINT.onion" 2>&1)
is "$?" 65 "--publish, a key Tor refuses (checksum right): exit 65"
like "$out" "$NOPOINT\.onion: not a valid ed25519 point: Tor would refuse it" "--publish: the key's reason named"
out=$(check --publish "mail.$ONION3.onion" 2>&1)
is "$?" 65 "--publish, a subdomain of an onion: exit 65"
like "$(check --publish "$T/nothere" 2>&1)" "^onionmx-check: $T/nothere: No such file or directory" "--publish, missing directory: named"
check --publish "$T/nothere" 2>/dev/null
is "$?" 66 "--publish, missing file: exit 66"
printf '%s.onion\nextra\n' "$ONION3" >"$T/hs/hostname"
like "$(check --publish "$T/hs" 2>&1)" "$T/hs/hostname: not a Tor hostname file" "--publish: a file with more than the hostname, refused"

# --- usage ---
check >/dev/null 2>&1
is "$?" 64 "no domain: usage, exit 64"
check --bogus x.example >/dev/null 2>&1
is "$?" 64 "unknown option: exit 64"
out=$(check 'b@d.example' 2>&1)
is "$?" 64 "an invalid domain: exit 64"
like "$out" "onionmx-check: b@d\.example: .*'@'" "an invalid domain: named, with the reason"
check --port 25 x.example >/dev/null 2>&1
is "$?" 64 "--port without --publish: exit 64"
check --publish --port 0 "$ONION3.onion" >/dev/null 2>&1
is "$?" 64 "--publish --port 0: exit 64"
check --publish >/dev/null 2>&1
is "$?" 64 "--publish without an argument: exit 64"
check "$ONION1.onion" >/dev/null 2>&1
is "$?" 64 "an onion name instead of a domain: exit 64"
like "$(check -h)" "^usage: onionmx-check" "-h prints the usage"
check -h | grep -q "^  78 configuration"
ok $? "-h documents the exit codes"
done_testing
