#!/bin/bash
# res_search/res_nsearch of a name glibc asks first (as many dots as ndots, or
# a trailing dot), for a question the map answers: the library judges the name,
# asks it of DNS as glibc would, and walks the search list only if DNS does not
# find it, each candidate judged at its turn (no list of map lookups up front).
# Checked against glibc without the library: for names that are not ours, the
# same return code, h_errno and reply, and the same queries in the same order
# reach the server; a mapped candidate that the list reaches after the name
# failed is answered in-process and never sent; one the list would reach only
# after a name DNS found is never judged.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns --local=/nosuch/ || exit 1
setup_map || exit 1
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
like "$ADDR2" '^2(4[0-9]|5[0-5])\.' "the map gives $ONION2.onion an address"

resolv() { printf '%s\n' "$@" >"$T/resolv.conf"; }
fresh_log() { : >"$T/dns.log"; }

# same FUNC NAME TYPE WHAT: the probe's output and the server's queries, with
# and without the library, must be the same.
same() {
	local with without q_with q_without
	fresh_log
	with=$(shim "$H/resolv_probe" "$1" "$2" "$3" 2>/dev/null | grep -v '^id=')
	q_with=$(dns_queries)
	fresh_log
	without=$("$H/resolv_probe" "$1" "$2" "$3" 2>/dev/null | grep -v '^id=')
	q_without=$(dns_queries)
	is "$with" "$without" "res_$1($2, $3) $4: answered as without the library"
	is "$q_with" "$q_without" "res_$1($2, $3) $4: the same queries, in the same order"
	[ -n "$q_without" ] || ok 1 "res_$1($2, $3) $4: (the server saw the queries)"
}

resolv "nameserver 127.0.0.1" "search corp.example other.example"
for f in search nsearch; do
	same $f plain.example MX "found as it is"
	same $f y.nosuch MX "not found anywhere (as it is, then each search domain)"
	same $f mx.plain.example MX "NODATA as it is, NXDOMAIN under the list (h_errno NO_DATA)"
	same $f nothing.example. MX "a trailing dot (the name alone)"
	same $f x.nosuch SRV "an SRV question"
done
resolv "nameserver 127.0.0.1" "search corp.example" "options ndots:2"
same search a.b.nosuch MX "ndots 2, two dots: as it is first"

# The list reaches a mapped domain only after the name failed: answered here.
resolv "nameserver 127.0.0.1" "search wild.example example"
for f in search nsearch; do
	fresh_log
	out=$(shim "$H/resolv_probe" $f a.nosuch MX)
	like "$out" "^answer MX 10 $ONION2\.onion" "res_$f(a.nosuch, MX): a.nosuch.wild.example, ours by .wild.example"
	q=$(dns_queries)
	like "$q" "^MX a\.nosuch$" "res_$f: a.nosuch itself was asked first, as glibc asks it"
	unlike "$q" "wild" "res_$f: no query for a.nosuch.wild.example"
	# A name DNS finds: the list is never reached, its mapped candidate never judged.
	fresh_log
	out=$(shim "$H/resolv_probe" $f plain.example MX)
	like "$out" "^answer MX 10 mx\.plain\.example" "res_$f(plain.example, MX) with search wild.example: DNS's answer"
	is "$(dns_queries)" "MX plain.example" "res_$f: one query, for plain.example alone"
done
fresh_log
out=$(ONIONMX_ACTIVE=1 shim "$H/resolv_probe" nsearch a.nosuch A)
like "$out" "^answer A $ADDR2 " "in an MTA: A of a.nosuch is a.nosuch.wild.example's onion address"
q=$(dns_queries)
like "$q" "^A a\.nosuch$" "in an MTA: a.nosuch asked first"
unlike "$q" "wild" "in an MTA: no query for a.nosuch.wild.example"

# No server (ECONNREFUSED): glibc gives up after the first search domain.
resolv "nameserver 127.0.0.9" "search corp.example other.example" "options attempts:1 timeout:1"
for f in search nsearch; do
	with=$(shim "$H/resolv_probe" $f y.nosuch MX 2>/dev/null | grep -v '^id=')
	without=$("$H/resolv_probe" $f y.nosuch MX 2>/dev/null | grep -v '^id=')
	is "$with" "$without" "res_$f(y.nosuch, MX) with no server: fails as without the library"
	like "$with" "^rc=-1 h_errno=2 " "(a temporary failure)"
done
done_testing
