#!/bin/bash
# Onion MX discovery (discover = srv) against real DNS servers: unbound
# validating zones nsd serves, signed at test time, then a hostile server.
# Priority, weight and port of the SRV records; the static map's precedence;
# invalid targets ignored and logged; DNSSEC policy (require/prefer/off; a
# failed validation defers); SERVFAIL/timeout defer (or fall back to the MX
# with srv_failure = mx); one DNS query per TTL across processes; discovered
# onions reachable from a fresh process; crafted replies never crash or mislead.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
setup_map || exit 1
O_A=$("$H/onion_gen" disc-a)
O_B=$("$H/onion_gen" disc-b)
O_C=$("$H/onion_gen" disc-c)
O_D=$("$H/onion_gen" disc-d)
O_E=$("$H/onion_gen" disc-e)
O_F=$("$H/onion_gen" disc-f)
O_G=$("$H/onion_gen" disc-g)
O_NEVER=$("$H/onion_gen" disc-never)
NOPOINT=$("$H/onion_gen" --torsion disc-nopoint) # right checksum, a key Tor refuses
BAD_SUM=${O_E:0:10}$([ "${O_E:10:1}" = a ] && echo b || echo a)${O_E:11}

start_dnssec_dns - <<EOM || exit 1
_onion-mx._tcp.pw.secure.test. 300 SRV 10 0 25 $O_A.onion.
_onion-mx._tcp.pw.secure.test. 300 SRV 0 1 2525 $O_B.onion.
_onion-mx._tcp.pw.secure.test. 300 SRV 0 3 2526 $O_C.onion.
pw.secure.test. MX 10 mx.secure.test.
_onion-mx._tcp.one.secure.test. 300 SRV 0 5 2525 $O_D.onion.
one.secure.test. MX 10 mx.secure.test.
mx.secure.test. A 127.0.0.20
_onion-mx._tcp.mixed.secure.test. 300 SRV 0 0 25 mx.plain.example.
_onion-mx._tcp.mixed.secure.test. 300 SRV 0 0 25 expyuzz4wqqyqhjn.onion.
_onion-mx._tcp.mixed.secure.test. 300 SRV 0 0 25 $BAD_SUM.onion.
_onion-mx._tcp.mixed.secure.test. 300 SRV 0 0 25 $NOPOINT.onion.
_onion-mx._tcp.mixed.secure.test. 300 SRV 5 0 25 $O_E.onion.
mixed.secure.test. MX 10 mx.secure.test.
_onion-mx._tcp.bad.secure.test. 300 SRV 0 0 25 mx.secure.test.
_onion-mx._tcp.bad.secure.test. 300 SRV 0 0 25 $BAD_SUM.onion.
bad.secure.test. MX 10 mx2.secure.test.
mx2.secure.test. A 127.0.0.30
nosrv.secure.test. MX 10 mx2.secure.test.
_onion-mx._tcp.dot.secure.test. 300 SRV 0 0 0 .
dot.secure.test. MX 10 mx2.secure.test.
_onion-mx._tcp.short.secure.test. 2 SRV 0 0 25 $O_D.onion.
short.secure.test. MX 10 mx2.secure.test.
_onion-mx._tcp.mapped.secure.test. 300 SRV 0 0 25 $O_E.onion.
mapped.secure.test. MX 10 mx.secure.test.
_onion-mx._tcp.b.bogus.test. 300 SRV 0 5 25 $O_F.onion.
b.bogus.test. MX 10 mx.bogus.test.
mx.bogus.test. A 127.0.0.20
_onion-mx._tcp.u.insecure.test. 300 SRV 0 5 25 $O_G.onion.
u.insecure.test. MX 10 mx.insecure.test.
mx.insecure.test. A 127.0.0.30
EOM
echo "mapped.secure.test $ONION1.onion" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null || exit 1
BASE_CONF=$(cat "$T/onionmx.conf")
conf() { # conf KEY=VALUE...: the test config with discovery and these settings
	{
		echo "$BASE_CONF"
		echo "discover = srv"
		echo "cache = $T/cache"
		for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	} >"$T/onionmx.conf"
}
mx() { # mx DOMAIN [FUNC]: the MX lookup an MTA makes, under the library
	shim "$H/resolv_probe" "${2:-nsearch}" "$1" MX 2>>"$T/lib.log"
}
srv_queries() { dns_query_count "_onion-mx._tcp.$1" SRV; }
conf

# --- priority, weight, port ---------------------------------------------------
out=$(mx pw.secure.test)
like "$out" "an=3" "pw: three MX records from three SRV records"
like "$out" "answer MX 30 $O_A\.onion" "pw: the priority-10 onion comes last"
unlike "$out" "mx\.secure\.test" "pw: the clearnet MX is not in the answer"
b_first=0 c_first=0 a_first=0
for _ in $(seq 60); do
	first=$(mx pw.secure.test | sed -n 's/^answer MX 10 \([a-z2-7]*\)\.onion.*/\1/p')
	case $first in "$O_B") b_first=$((b_first + 1)) ;; "$O_C") c_first=$((c_first + 1)) ;; "$O_A") a_first=$((a_first + 1)) ;; esac
done
echo "# of 60 lookups: weight 1 first $b_first, weight 3 first $c_first"
is "$a_first" 0 "pw: the higher priority is never first"
ok $(( b_first > 0 && c_first > 0 ? 0 : 1 )) "pw: equal priorities: both come first at times (weights 1 and 3)"
is "$((b_first + c_first))" 60 "pw: every answer starts with a priority-0 onion"

start_socks relay -r 127.0.0.40:25 || exit 1
start_sink onion 127.0.0.40:25 || exit 1
out=$(shim "$H/connect_probe" "$O_B.onion" 25 2>>"$T/lib.log")
like "$out" "^connect: ok" "a discovered onion connects through SOCKS"
like "$out" "^banner: 220" "and the onion's banner arrives"
like "$(cat "$T/socks.log")" "host=$O_B\.onion port=2525" "with the SRV record's port (2525)"
: >"$T/socks.log"
shim "$H/connect_probe" "$O_C.onion" 25 >/dev/null 2>>"$T/lib.log"
like "$(cat "$T/socks.log")" "host=$O_C\.onion port=2526" "each onion its own SRV port (2526)"

# --- a fresh process, and the address itself ------------------------------------
out=$(shim "$H/netdb_probe" gai "$O_D.onion" 2>>"$T/lib.log")
like "$out" "rc=EAI_AGAIN" "an onion not yet discovered: no address (EAI_AGAIN)"
mx one.secure.test >/dev/null
out=$(shim "$H/netdb_probe" gai "$O_D.onion" 2>>"$T/lib.log")
ADDR_D=$(printf '%s\n' "$out" | grep -oE '248\.[0-9]+\.[0-9]+\.[0-9]+' | head -1)
like "$ADDR_D" '^248\.' "after discovery, a fresh process resolves the onion in discover_range ($ADDR_D)"
: >"$T/socks.log"
out=$(shim "$H/connect_probe" "$ADDR_D" 25 2>>"$T/lib.log")
like "$out" "^connect: ok" "a fresh process connects to the bare address (as Exim passes it on)"
like "$(cat "$T/socks.log")" "host=$O_D\.onion port=2525" "and reaches that onion on its port"
out=$(shim "$H/resolv_probe" nsearch "$O_NEVER.onion" A 2>>"$T/lib.log")
like "$out" "^rc=-1 h_errno=2" "a valid onion neither mapped nor discovered: TRY_AGAIN"
: >"$T/socks.log"
out=$(shim "$H/connect_probe" 248.0.200.7 25 2>>"$T/lib.log")
like "$out" "^connect: EHOSTUNREACH" "an unassigned discovery address is refused"
is "$(wc -c <"$T/socks.log")" 0 "and nothing reaches SOCKS for it"
like "$(stat -c '%a %U' "$T/cache")" "^600 root$" "the cache file is root's, mode 600 (recipient domains are nobody else's business)"

# --- the static map wins ---------------------------------------------------------
out=$(mx mapped.secure.test)
like "$out" "^answer MX 10 $ONION1\.onion" "the static map wins over a published SRV record"
is "$(srv_queries mapped.secure.test)" 0 "and the SRV record is not even asked for"

# --- invalid targets -------------------------------------------------------------
: >"$T/lib.log"
out=$(mx mixed.secure.test)
like "$out" "an=1" "mixed: only one usable target"
like "$out" "answer MX 10 $O_E\.onion" "mixed: the valid v3 onion is the MX"
log=$(cat "$T/lib.log")
like "$log" "ignoring target mx\.plain\.example: not an onion name" "mixed: clearnet target ignored and logged"
like "$log" "ignoring target expyuzz4wqqyqhjn\.onion: v2" "mixed: v2 onion ignored and logged"
like "$log" "ignoring target $BAD_SUM\.onion: bad checksum" "mixed: bad checksum ignored and logged"
like "$log" "ignoring target $NOPOINT\.onion: not a valid ed25519 point: Tor would refuse it" \
	"mixed: a key Tor refuses ignored and logged, naming the reason"
mx mixed.secure.test >/dev/null
is "$(grep -c 'ignoring target mx.plain.example' "$T/lib.log")" 1 "logged once, not at every lookup"
out=$(mx bad.secure.test)
like "$out" "answer MX 10 mx2\.secure\.test" "only invalid targets: the normal MX answer"
like "$(cat "$T/lib.log")" "_onion-mx._tcp.bad.secure.test: no usable onion target; using its MX" "and the reason is logged"
out=$(mx dot.secure.test)
like "$out" "answer MX 10 mx2\.secure\.test" "target \".\": the normal MX answer"
with=$(mx nosrv.secure.test | grep -v '^id=')
without=$("$H/resolv_probe" nsearch nosrv.secure.test MX | grep -v '^id=')
is "$with" "$without" "no SRV record: the MX answer exactly as without the library"

# --- caching across processes ----------------------------------------------------
for _ in 1 2 3 4 5; do mx one.secure.test >/dev/null; mx nosrv.secure.test >/dev/null; done
is "$(srv_queries one.secure.test)" 1 "6 lookups in 6 processes: one SRV query (positive answer cached)"
is "$(srv_queries nosrv.secure.test)" 1 "6 lookups: one SRV query (negative answer cached)"
mx short.secure.test >/dev/null
mx short.secure.test >/dev/null
is "$(srv_queries short.secure.test)" 1 "TTL 2: a second lookup at once is a cache hit"
sleep 3
mx short.secure.test >/dev/null
is "$(srv_queries short.secure.test)" 2 "after the TTL the record is asked for again"

# --- DNSSEC policy -------------------------------------------------------------
out=$(mx b.bogus.test)
like "$out" "^rc=-1 h_errno=2" "failed validation (SERVFAIL): the MX lookup fails temporarily"
is "$(dns_query_count b.bogus.test MX)" 0 "and the clearnet MX is never asked for"
like "$(cat "$T/lib.log")" "_onion-mx._tcp.b.bogus.test SRV lookup failed: SERVFAIL.*deferring" "the deferral is logged"
out=$(mx u.insecure.test)
like "$out" "answer MX 10 $O_G\.onion" "prefer (default): an unsigned SRV record is used"
conf srv_dnssec=require
rm -f "$T/cache"
out=$(mx u.insecure.test)
like "$out" "answer MX 10 mx\.insecure\.test" "require: an unsigned SRV record is not used (normal MX)"
like "$(cat "$T/lib.log")" "u.insecure.test: unsigned answer: srv_dnssec = require" "require: and says why"
out=$(mx one.secure.test)
like "$out" "answer MX 10 $O_D\.onion" "require: a validated (AD) record from the loopback resolver is used"
out=$(mx b.bogus.test)
like "$out" "^rc=-1 h_errno=2" "require: failed validation defers too"
conf srv_dnssec=off
rm -f "$T/cache"
out=$(mx b.bogus.test)
like "$out" "^rc=-1 h_errno=2" "off: a failed validation still never yields the record"
conf srv_failure=mx
rm -f "$T/cache"
out=$(mx b.bogus.test)
like "$out" "answer MX 10 mx\.bogus\.test" "srv_failure = mx: a failed SRV lookup falls back to the MX"

# --- discovery off, broken setups ------------------------------------------------
echo "$BASE_CONF" >"$T/onionmx.conf"
n=$(srv_queries u.insecure.test)
out=$(mx u.insecure.test)
like "$out" "answer MX 10 mx\.insecure\.test" "discover = off (default): the normal MX"
is "$(srv_queries u.insecure.test)" "$n" "discover = off: no SRV query"
conf "cache=$T/no/such/dir/cache"
: >"$T/lib.log"
out=$(mx one.secure.test)
like "$out" "answer MX 10 $O_D\.onion" "cache unusable: discovery still answers in-process"
like "$(cat "$T/lib.log")" "no/such/dir/cache: .*using a cache private to this process" "and warns"
conf
"$MAPTOOL" -r 248.0.0.0/6 "$T/domains" >/dev/null
: >"$T/lib.log"
out=$(mx one.secure.test)
like "$out" "^rc=-1 h_errno=2" "map range overlapping discover_range: MX lookups discovery would answer defer"
like "$(cat "$T/lib.log")" "overlaps discover_range" "and the cause is logged"
out=$(mx mapped.secure.test)
like "$out" "^answer MX 10 $ONION1\.onion" "mapped domains still work"
rm -f "$T/domains.cdb" # back to the default range: only afresh (it was left just now)
"$MAPTOOL" "$T/domains" >/dev/null

# An ordinary user's program cannot write root's cache: it discovers with a
# private one, quietly (sendmail and postdrop would otherwise log at every
# local submission).
conf
mx one.secure.test >/dev/null
: >"$T/lib.log"
# (copies in $T: nobody may not be able to enter the checkout, e.g. a mktemp -d)
install -m 755 "$LIB" "$H/resolv_probe" "$T/"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	env LD_PRELOAD="${SAN_PRELOAD:+$SAN_PRELOAD }$T/libonionmx.so" \
	"$T/resolv_probe" nsearch one.secure.test MX 2>>"$T/lib.log")
like "$out" "answer MX 10 $O_D\.onion" "a user's program (root's cache not writable) still discovers"
unlike "$(cat "$T/lib.log")" "private" "without a warning about the private cache"
conf "cache=$T/usercache"
touch "$T/usercache" && chmod 666 "$T/usercache"
out=$(mx one.secure.test)
like "$(cat "$T/lib.log")" "usercache: refused: not owned by root or this user, or writable by group or others" \
	"a cache file writable by others is refused, with the reason"
like "$out" "answer MX 10 $O_D\.onion" "and discovery goes on with a private cache"
conf

# --- the cache under attack ---------------------------------------------------------
# A process stopped (not dead) while it holds the cache's lock: other processes'
# MX lookups end after the lock's deadline and defer; nothing goes to DNS.
conf
mx one.secure.test >/dev/null
"$H/cache_hold" "$T/cache" &
holder=$!
PIDS+=("$holder")
for _ in $(seq 100); do
	[ "$(awk '{print $3}' "/proc/$holder/stat" 2>/dev/null)" = T ] && break
	sleep 0.1
done
is "$(awk '{print $3}' "/proc/$holder/stat" 2>/dev/null)" T "a process stopped holding the cache's lock"
: >"$T/lib.log"
n_srv=$(srv_queries u.insecure.test)
n_mx=$(dns_query_count u.insecure.test MX)
out=$(timeout 60 env LD_PRELOAD="$PRELOAD" "$H/resolv_probe" nsearch u.insecure.test MX 2>>"$T/lib.log")
like "$out" "^rc=-1 h_errno=2" "meanwhile another process's MX lookup ends, deferring (TRY_AGAIN)"
like "$(cat "$T/lib.log")" "discovery cache $T/cache: lock not obtained within [0-9]+ s .*deferring the MX lookup of u\.insecure\.test" \
	"and says why"
is "$(srv_queries u.insecure.test)" "$n_srv" "no SRV query while the cache cannot be used"
is "$(dns_query_count u.insecure.test MX)" "$n_mx" "and no clearnet MX query"
kill -CONT "$holder"
wait "$holder"
is "$?" 0 "the holder, continued, finishes"
out=$(mx u.insecure.test)
like "$out" "answer MX 10 $O_G\.onion" "(control: then the same lookup discovers the onion)"
is "$(srv_queries u.insecure.test)" "$((n_srv + 1))" "(control: with its SRV query seen)"

# Only root may write the cache's directory: whoever can, can replace the file.
mkdir -m 777 "$T/opendir"
conf "cache=$T/opendir/cache"
: >"$T/lib.log"
out=$(mx one.secure.test)
like "$(cat "$T/lib.log")" "opendir/cache: refused: its directory $T/opendir is not owned by root or this user, or is writable by group or others" \
	"a cache in a directory others can write is refused, with the reason"
ok "$([ ! -e "$T/opendir/cache" ]; echo $?)" "and nothing is created there"
like "$out" "answer MX 10 $O_D\.onion" "discovery goes on with a private cache"
conf

# A setuid program run by a user under "ulimit -f": creating the cache fails
# cleanly (no SIGXFSZ death, no discovery.cache.new.PID left behind).
if [ "${SAN:-}" = 1 ]; then
	ok 0 "setuid program under ulimit -f leaves no discovery.cache.new.PID # SKIP an ASan build cannot be preloaded into setuid programs"
else
	install_in_namespace || exit 1
	cp "$T/domains" /etc/onionmx/domains
	"$MAPTOOL" /etc/onionmx/domains >/dev/null
	mkdir -m 755 "$T/sys"
	printf 'map = /etc/onionmx/domains.cdb\nlog = stderr\ndiscover = srv\ncache = %s/sys/discovery.cache\n' "$T" \
		>/etc/onionmx/onionmx.conf
	chmod 644 /etc/onionmx/onionmx.conf /etc/onionmx/domains.cdb
	install -o root -m 4755 "$H/self_report" "$T/suid_report"
	out=$(timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
		bash -c 'ulimit -f 1; exec env LD_PRELOAD=libonionmx.so "$0" one.secure.test' "$T/suid_report" 2>&1)
	like "$out" "loaded=yes" "setuid program run by nobody under ulimit -f: the library loads"
	like "$out" "discovery\.cache: cannot create: File too large" "creating the cache fails, and says why"
	like "$out" "mx=$O_D\.onion" "the program lives on and discovers with a private cache"
	is "$(ls -A "$T/sys")" "" "no discovery.cache.new.PID (nor a cache) is left behind"
	out=$(timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_PRELOAD=libonionmx.so "$T/suid_report" one.secure.test 2>&1)
	like "$out" "mx=$O_D\.onion" "(control: without the limit, the same run discovers)"
	like "$(stat -c '%a %U' "$T/sys/discovery.cache" 2>&1)" "^600 root$" \
		"(control: and creates the cache: root's, mode 600)"
	rm -f /etc/onionmx/onionmx.conf
fi

# --- Net::DNS (swaks) asking around libc -------------------------------------------
rm -f "$T/cache"
out=$(shim perl "$TOP/tests/helpers/dns_bypass.pl" udp one.secure.test MX 2>>"$T/lib.log")
like "$out" "answer one\.secure\.test\. .*MX 10 $O_D\.onion" "Net::DNS's own UDP MX query is answered from discovery"

# --- crafted replies ---------------------------------------------------------------
stop_dnssec_dns
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T/resolv.conf"
start_evil_dns 127.0.0.1 "$O_D" || exit 1
rm -f "$T/cache"
for kind in truncated loop loop2 forward pastend counts hugerdata longrdata badlabel badlabel80 servfail refused formerr timeout; do
	out=$(mx "$kind.evil.test")
	like "$out" "^rc=-1 h_errno=2" "crafted reply '$kind': the MX lookup fails temporarily, no crash"
	is "$(dns_query_count "$kind.evil.test" MX evil)" 0 "crafted reply '$kind': no clearnet MX lookup follows"
done
out=$(mx good.evil.test)
like "$out" "^answer MX 10 $O_D\.onion" "a well-formed reply from the same server works"
out=$(mx tcbit.evil.test)
like "$out" "^answer MX 10 $O_D\.onion" "TC over UDP: glibc retries over TCP and the answer is used"
out=$(mx mixed.evil.test)
like "$out" "an=1" "crafted mix of targets: one usable"
like "$out" "^answer MX 10 $O_D\.onion" "crafted mix: the valid onion, not the first record"
out=$(mx wrongname.evil.test)
like "$out" "answer MX 10 mx\.wrongname\.evil\.test" "an SRV record for another name is not taken"
out=$(mx nxdomain.evil.test)
like "$out" "h_errno=1|answer MX" "NXDOMAIN for the SRV name: the normal MX lookup happens"
alive "$(cat "$T/evil_dns.pid")"
ok $? "the hostile server is still up (every query was answered or dropped on purpose)"

done_testing
