#!/bin/bash
# getaddrinfo and gethostbyname* answer onion names with the map's synthetic
# address, behaving exactly like a DNS name with an A record and, for IPv6-only
# MTAs, the same address IPv4-mapped as its AAAA (the references, v4only.example
# and mapped6.example, are looked up for real with and without the shim), and
# never ask DNS; in an MTA a mapped mail domain gets its onion's address the same
# way; other names pass through untouched.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns --host-record=v4only.example,127.0.0.50 \
	--host-record=mapped6.example,127.0.0.50,::ffff:127.0.0.50 || exit 1
setup_map || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')

# Runs the probe on the onion and on the reference name and compares them with
# the names and addresses swapped. WANT is what the reference lookup itself must
# have given (a pattern for its first line), so that the two failing alike (DNS
# down, the probe broken) cannot pass as "the same".
same_as_dns() { # same_as_dns DESCRIPTION WANT PROBE-ARGS... (NAME stands for the name)
	local desc=$1 want=$2 onion_out ref_out ref=${REF:-v4only.example}
	shift 2
	# (h_errno after a successful gethostbyname is unspecified: glibc leaves
	# whatever its "files" lookup set, so it is not compared.)
	onion_out=$(shim "$H/netdb_probe" "${@/NAME/$ONION1.onion}" 2>&1 | sed 's/^result=ok h_errno=.*/result=ok/')
	ref_out=$(shim "$H/netdb_probe" "${@/NAME/$ref}" 2>&1 | sed 's/^result=ok h_errno=.*/result=ok/' |
		sed "s/$ref/$ONION1.onion/g; s/127\.0\.0\.50/$ADDR1/g")
	like "$(printf '%s\n' "$ref_out" | head -1)" "$want" "$desc: the reference DNS name gave $want"
	is "$onion_out" "$ref_out" "$desc: onion answered like a v4-only DNS name"
	[ -n "$VERBOSE" ] && echo "$onion_out" | sed 's/^/# /'
}

same_as_dns "gai unspec" "^rc=0$" gai NAME
same_as_dns "gai inet stream service smtp" "^rc=0$" gai NAME smtp inet
same_as_dns "gai inet numeric service 2525" "^rc=0$" gai NAME 2525 inet
same_as_dns "gai unspec any socktype" "^rc=0$" gai NAME 25 unspec "" any
same_as_dns "gai canonname" "^rc=0$" gai NAME 25 inet canon
same_as_dns "gai addrconfig" "^rc=0$" gai NAME 25 unspec addrconfig
same_as_dns "gai inet6 v4mapped" "^rc=0$" gai NAME 25 inet6 v4mapped
same_as_dns "gai inet6 v4mapped,all" "^rc=0$" gai NAME 25 inet6 v4mapped,all
# AF_INET6 without AI_V4MAPPED: a v4-only name has no answer, but the onion has an
# AAAA (its address IPv4-mapped, so Postfix with inet_protocols = ipv6 can use it):
# compared with a name whose AAAA is that form.
REF=mapped6.example same_as_dns "gai inet6 without v4mapped" "^rc=0$" gai NAME 25 inet6
same_as_dns "gai hints NULL" "^rc=0$" gai-null NAME 25
same_as_dns "gai bad service" "^rc=EAI_SERVICE$" gai NAME nosuchservice inet
same_as_dns "gethostbyname" "^result=ok$" ghbn NAME
same_as_dns "gethostbyname2 inet" "^result=ok$" ghbn2 NAME inet
REF=mapped6.example same_as_dns "gethostbyname2 inet6" "^result=ok$" ghbn2 NAME inet6
same_as_dns "gethostbyname_r" "^rc=0 result=ok" ghbn_r NAME 1024
same_as_dns "gethostbyname_r small buffer" "^rc=ERANGE " ghbn_r NAME 8
same_as_dns "gethostbyname2_r inet" "^rc=0 result=ok" ghbn2_r NAME inet 1024
REF=mapped6.example same_as_dns "gethostbyname2_r inet6" "^rc=0 result=ok" ghbn2_r NAME inet6 1024

out=$(shim "$H/netdb_probe" gai "$ONION1.onion" 25 inet)
like "$out" "addr=$ADDR1 port=25" "getaddrinfo gives the map's address"
out=$(shim "$H/netdb_probe" gai "$ONION1.onion" 25 inet canon)
like "$out" "canon=$ONION1\.onion$" "AI_CANONNAME is the onion name"
out=$(shim "$H/netdb_probe" gai "$ONION1.onion" 25 inet numerichost)
is "$(echo "$out" | head -1)" "rc=EAI_NONAME" "AI_NUMERICHOST still fails for an onion name (Postfix asks this first)"
out=$(shim "$H/netdb_probe" gai "sub.$ONION1.ONION." 25 inet)
like "$out" "addr=$ADDR1" "sub.ONION.onion. in upper case resolves to the onion's address"
out=$(shim "$H/netdb_probe" gai "$ONION_UNMAPPED.onion" 25 inet 2>/dev/null)
is "$(echo "$out" | head -1)" "rc=EAI_AGAIN" "an onion not in the map: EAI_AGAIN (try later), never DNS"
out=$(shim "$H/netdb_probe" gai "x$ONION1.onion" 25 inet)
is "$(echo "$out" | head -1)" "rc=EAI_NONAME" "an invalid onion: EAI_NONAME"
out=$(shim "$H/netdb_probe" ghbn "x$ONION1.onion")
is "$(echo "$out" | head -1)" "result=null h_errno=HOST_NOT_FOUND" "gethostbyname of an invalid onion: HOST_NOT_FOUND"
out=$(shim "$H/netdb_probe" ghbn_r "$ONION_UNMAPPED.onion" 1024 2>/dev/null)
is "$(echo "$out" | head -1)" "rc=EAGAIN result=null h_errno=TRY_AGAIN" "gethostbyname_r of an unmapped onion: TRY_AGAIN"

# Other names: exactly as without the shim.
for args in "gai v4only.example 25 inet" "gai localhost 25 unspec" "gai 127.0.0.9 25 inet numerichost" \
	"ghbn v4only.example" "ghbn2 localhost inet6" "gai nonexistent.example 25 inet"; do
	is "$(shim "$H/netdb_probe" $args 2>&1)" "$("$H/netdb_probe" $args 2>&1)" "passthrough: $args"
done

queries=$(dns_queries)
unlike "$queries" "\.onion" "the DNS server saw no .onion name"
like "$queries" "v4only\.example" "while the reference name was asked of it"

# A mapped mail domain's own address: its web site outside an MTA, its onion in
# one (Postfix with DNS lookups disabled asks getaddrinfo(domain)); with a search
# list in resolv.conf, the name itself is answered first and no suffixed
# candidate reaches DNS either.
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
echo "search corp.example" >>/etc/resolv.conf
: >"$T/dns.log"
out=$(shim "$H/netdb_probe" gai mapped.example 25 inet 2>&1)
like "$out" "addr=127\.0\.0\.20 port=25" "not an MTA: a mapped domain's A is its web site's (from DNS)"
is "$(dns_query_count mapped.example A)" 1 "not an MTA: that A query reached DNS (the log's control)"
: >"$T/dns.log"
mta() { ONIONMX_ACTIVE=1 shim "$H/netdb_probe" "$@" 2>&1; }
like "$(mta gai mapped.example 25 unspec)" "^ai family=inet socktype=1 addr=$ADDR1 port=25" \
	"MTA (onionmx wrapper): getaddrinfo(mapped domain, AF_UNSPEC) -> its onion's address"
is "$(mta gai mapped.example 25 unspec | grep -c '^ai .*socktype=1')" 1 "MTA: one address, IPv4 only, for AF_UNSPEC"
like "$(mta gai Mapped.Example. 25 inet6)" "addr=::ffff:$ADDR1 port=25" "MTA: AF_INET6 -> the onion's address IPv4-mapped"
like "$(mta gai sub.wild.example 25 inet)" "addr=$ADDR2 port=25" "MTA: a name under a wildcard entry -> its onion"
like "$(mta ghbn mapped.example)" "addr $ADDR1" "MTA: gethostbyname(mapped domain)"
like "$(mta ghbn2 mapped.example inet6)" "addr ::ffff:$ADDR1" "MTA: gethostbyname2(mapped domain, AF_INET6)"
like "$(mta ghbn2_r mapped.example inet 1024)" "addr $ADDR1" "MTA: gethostbyname2_r(mapped domain)"
like "$(mta ghbn_r mapped.example 8)" "^rc=ERANGE" "MTA: gethostbyname_r with a small buffer: ERANGE"
like "$(mta gai mapped.example.corp.example 25 inet)" "^rc=(EAI_NONAME|EAI_NODATA|EAI_AGAIN)" \
	"MTA: mapped domain + search suffix is not mapped (asked of DNS)"
like "$(mta gai v4only.example 25 inet)" "addr=127\.0\.0\.50" "MTA: an unmapped name passes"
like "$(mta gai 127.0.0.9 25 inet)" "addr=127\.0\.0\.9" "MTA: a literal passes"
is "$(mta gai mapped.example 25 inet numerichost | head -1)" \
	"$("$H/netdb_probe" gai mapped.example 25 inet numerichost 2>&1 | head -1)" \
	"MTA: AI_NUMERICHOST of a domain as without the library"
queries=$(dns_queries)
unlike "$queries" "mapped\.example( |$)" "MTA: no query for the mapped domain or a search-list candidate of it"
like "$queries" "A v4only\.example" "while the unmapped name was asked of DNS"
like "$queries" "mapped\.example\.corp\.example" "and the explicitly suffixed name too"
# A domain with two onions: both addresses, in the map's order, one list.
echo "two.example $ONION1.onion $ONION2.onion:2525" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
is "$(mta gai two.example 25 inet canon | sed -n 's/.*addr=\([0-9.]*\) .*canon=\(.*\)/\1 \2/p' | tr '\n' ' ')" \
	"$ADDR1 two.example $ADDR2 - " "MTA: a domain with two onions: both addresses in order, the name on the first"
like "$(mta ghbn two.example | grep -c '^addr ')" "^2$" "MTA: gethostbyname lists both"
if command -v valgrind >/dev/null && [ "${SAN:-}" != 1 ]; then
	vg=$(ONIONMX_ACTIVE=1 LD_PRELOAD="$LIB" valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=9 "$H/netdb_probe" gai two.example 25 unspec canon any 2>&1)
	ok $? "valgrind: getaddrinfo+freeaddrinfo of a two-onion domain (chained lists), no error or leak"
fi
# Which processes are MTAs: a program named like Postfix's smtp, or one the
# programs key names.
cp "$H/netdb_probe" "$T/smtp"
like "$(shim "$T/smtp" gai mapped.example 25 inet 2>&1)" "addr=$ADDR1" "a program named smtp is an MTA"
cp "$T/onionmx.conf" "$T/programs.conf"
echo "programs = $T/probe-copy" >>"$T/programs.conf"
cp "$H/netdb_probe" "$T/probe-copy"
like "$(ONIONMX_CONF=$T/programs.conf shim "$T/probe-copy" gai mapped.example 25 inet 2>&1)" "addr=$ADDR1" \
	"a program the programs key names is an MTA"
like "$(ONIONMX_CONF=$T/programs.conf shim "$T/smtp" gai mapped.example 25 inet 2>&1)" "addr=127\.0\.0\.20" \
	"with a programs key, a program outside it is left alone (even if named smtp)"

# Reverse lookups of synthetic addresses through NSS (getnameinfo,
# gethostbyaddr(_r), getent hosts, Python): glibc would send their PTR question
# to DNS and tell the server which onion this host mails; answered in-process
# like res_query's: the onion's name, "no name" for an unassigned address, a
# temporary failure when the map is damaged. PTR of a non-synthetic address is
# the control: it reaches the server.
"$MAPTOOL" "$T/domains" >/dev/null
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
UNASSIGNED=240.0.0.1 # in the map's range (240.0.0.0/5), no onion's
DISC=248.0.0.7       # discovery's range, nothing discovered
cp "$T/onionmx.conf" "$T/disc.conf"
printf 'discover = srv\ncache = %s\n' "$T/ptr-cache" >>"$T/disc.conf"
: >"$T/dns.log"
is "$(shim "$H/netdb_probe" gni "$ADDR1" 2>&1)" "rc=0 host=$ONION1.onion serv=smtp" "getnameinfo($ADDR1): the onion's name"
is "$(shim "$H/netdb_probe" gni "$ADDR1" namereqd,numericserv 2>&1)" "rc=0 host=$ONION1.onion serv=25" \
	"getnameinfo(NI_NAMEREQD|NI_NUMERICSERV): the onion's name"
is "$(shim "$H/netdb_probe" gni "::ffff:$ADDR1" namereqd 2>&1)" "rc=0 host=$ONION1.onion serv=smtp" \
	"getnameinfo(::ffff:$ADDR1): the onion's name"
is "$(shim "$H/netdb_probe" gni "$ADDR1" numerichost 2>&1)" "rc=0 host=$ADDR1 serv=smtp" \
	"getnameinfo(NI_NUMERICHOST): the address, as without the library"
is "$(shim "$H/netdb_probe" gni "$UNASSIGNED" namereqd 2>&1)" "rc=EAI_NONAME host=- serv=-" \
	"getnameinfo(unassigned synthetic, NI_NAMEREQD): EAI_NONAME"
is "$(shim "$H/netdb_probe" gni "$UNASSIGNED" 2>&1)" "rc=0 host=$UNASSIGNED serv=smtp" \
	"getnameinfo(unassigned synthetic): its numeric form, as glibc for an address without a name"
is "$(ONIONMX_CONF=$T/disc.conf shim "$H/netdb_probe" gni "$DISC" namereqd 2>&1)" "rc=EAI_NONAME host=- serv=-" \
	"getnameinfo(discovery's range, nothing discovered): EAI_NONAME"
is "$(ONIONMX_CONF=$T/disc.conf shim "$H/netdb_probe" gni "::ffff:$DISC" namereqd 2>&1)" "rc=EAI_NONAME host=- serv=-" \
	"getnameinfo(::ffff: discovery's range): EAI_NONAME"
out=$(shim "$H/netdb_probe" ghba "$ADDR1" 2>&1)
like "$out" "^result=ok" "gethostbyaddr($ADDR1) answers"
like "$out" "hostent name=$ONION1\.onion addrtype=inet length=4" "gethostbyaddr: the onion's name"
like "$out" "addr $ADDR1" "gethostbyaddr: with the address"
like "$(shim "$H/netdb_probe" ghba "::ffff:$ADDR1" 2>&1)" "hostent name=$ONION1\.onion addrtype=inet6 length=16" \
	"gethostbyaddr(::ffff:$ADDR1, AF_INET6): the onion's name"
is "$(shim "$H/netdb_probe" ghba "$UNASSIGNED" 2>&1)" "result=null h_errno=HOST_NOT_FOUND" \
	"gethostbyaddr(unassigned synthetic): HOST_NOT_FOUND"
like "$(shim "$H/netdb_probe" ghba_r "$ADDR1" 1024 2>&1)" "^rc=0 result=ok .*
hostent name=$ONION1\.onion" "gethostbyaddr_r: the onion's name"
like "$(shim "$H/netdb_probe" ghba_r "$ADDR1" 8 2>&1)" "^rc=ERANGE" "gethostbyaddr_r with a small buffer: ERANGE"
is "$(shim "$H/netdb_probe" ghba_r "$UNASSIGNED" 2>&1)" "rc=0 result=null h_errno=HOST_NOT_FOUND" \
	"gethostbyaddr_r(unassigned synthetic): HOST_NOT_FOUND"
like "$(shim getent hosts "$ADDR1" 2>&1)" "^$ADDR1 +$ONION1\.onion$" "getent hosts $ADDR1: the onion's name"
is "$(shim getent hosts "$UNASSIGNED" >/dev/null 2>&1; echo $?)" 2 "getent hosts of an unassigned synthetic address: not found"
py=$(shim /usr/bin/python3 -c "
import socket
print(socket.gethostbyaddr('$ADDR1')[0])
print(socket.getnameinfo(('$ADDR1', 25), socket.NI_NAMEREQD)[0])
try:
    socket.gethostbyaddr('$UNASSIGNED'); print('found')
except socket.herror as e:
    print('herror', e.errno)
" 2>&1)
is "$py" "$ONION1.onion
$ONION1.onion
herror 1" "python3: gethostbyaddr and getnameinfo give the onion's name, an unassigned address is unknown"
# No usable map: a temporary failure (the MTA defers), never a question to DNS.
echo "map = $T/missing.cdb" >"$T/missing.conf"; grep -v '^map' "$T/onionmx.conf" >>"$T/missing.conf"
like "$(ONIONMX_CONF=$T/missing.conf shim "$H/netdb_probe" gni "$ADDR1" 2>/dev/null)" "^rc=EAI_AGAIN" \
	"getnameinfo with the map missing: EAI_AGAIN"
like "$(ONIONMX_CONF=$T/missing.conf shim "$H/netdb_probe" ghba "$ADDR1" 2>/dev/null)" "^result=null h_errno=TRY_AGAIN" \
	"gethostbyaddr with the map missing: TRY_AGAIN"
like "$(ONIONMX_CONF=$T/missing.conf shim "$H/netdb_probe" ghba_r "$UNASSIGNED" 2>/dev/null)" "^rc=EAGAIN result=null h_errno=TRY_AGAIN" \
	"gethostbyaddr_r with the map missing: TRY_AGAIN"
# Other addresses: exactly as without the library (and asked of DNS).
for args in "gni 127.0.0.2 namereqd" "gni 127.0.0.1" "ghba 127.0.0.2" "ghba_r 127.0.0.3 1024" "gni ::1" "gni 239.255.255.254 namereqd"; do
	is "$(shim "$H/netdb_probe" $args 2>&1)" "$("$H/netdb_probe" $args 2>&1)" "passthrough: $args"
done
queries=$(dns_queries)
unlike "$queries" "PTR .*\.(24[0-9]|25[0-5])\.in-addr\.arpa$" "the DNS server saw no PTR question about a synthetic address (in-addr.arpa)"
unlike "$queries" "PTR .*f\.f\.f\.f\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.ip6\.arpa$" \
	"nor about an IPv4-mapped one (ip6.arpa)"
like "$queries" "PTR 2\.0\.0\.127\.in-addr\.arpa" "while PTR of 127.0.0.2 reached it (the log's control)"
[ -n "$VERBOSE" ] && echo "$queries" | sed 's/^/# /'

# freeaddrinfo of our results: valgrind memcheck on the probe under the shim.
if command -v valgrind >/dev/null && [ "${SAN:-}" != 1 ]; then
	vg=$(LD_PRELOAD="$LIB" valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=9 "$H/netdb_probe" gai "$ONION1.onion" 25 unspec canon any 2>&1)
	ok $? "valgrind: getaddrinfo+freeaddrinfo of an onion with AI_CANONNAME, no error or leak"
	[ $? != 0 ] && echo "$vg" | sed 's/^/# /' | head -20
fi
done_testing
