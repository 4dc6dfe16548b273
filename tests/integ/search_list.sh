#!/bin/bash
# Names the resolver expands with the search list ("search", "domain",
# $LOCALDOMAIN, "options ndots:N"): glibc forms the candidates below every entry
# point we interpose, so the hooks walk the list themselves. A candidate that is
# a mapped domain (an MX, in an MTA also an A/AAAA) or an onion is answered
# in-process; a name that expands to an onion sends none of its candidates to
# DNS (RFC 7686); an onion or mapped name given as it is is answered as it is,
# never expanded. Each "no query" check is paired with an unmapped name whose
# expansion the DNS server does see. getaddrinfo_a (in libc since 2.34, whose
# worker threads call glibc's getaddrinfo internally, past any interposer) is
# interposed too.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns --host-record=plainhost.example,127.0.0.50 || exit 1
setup_map || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
like "$ADDR1" '^2(4[0-9]|5[0-5])\.' "the map gives $ONION1.onion an address"

resolv() { printf 'nameserver 127.0.0.1\n%s\n' "$@" >"$T/resolv.conf"; }
fresh_log() { : >"$T/dns.log"; }

# ---- res_search / res_nsearch: "search example" (ndots 1) ----
resolv "search example"
for f in search nsearch; do
	fresh_log
	out=$(shim "$H/resolv_probe" $f mapped MX)
	like "$out" "^answer MX 10 $ONION1\.onion" "res_$f(mapped, MX) with search example: the onion MX of mapped.example"
	like "$out" "^question mapped\.example 15" "res_$f: the reply's question is the candidate, as glibc's would be"
	out=$(shim "$H/resolv_probe" $f plain MX)
	like "$out" "^answer MX 10 mx\.plain\.example" "res_$f(plain, MX): control, answered by DNS"
	q=$(dns_queries)
	like "$q" "^MX plain\.example$" "res_$f: the control's expansion plain.example reached the server"
	unlike "$q" "mapped" "res_$f: no query about mapped.example (nor mapped) reached the server"
done
fresh_log
with=$(shim "$H/resolv_probe" search nosuch MX | grep -v '^id=')
without=$("$H/resolv_probe" search nosuch MX | grep -v '^id=')
is "$with" "$without" "an unmapped name that exists nowhere fails as without the library"
like "$with" "^rc=-1 " "(it did fail)"
like "$(dns_queries)" "^MX nosuch\.example$" "and its expansion reached the server"

# ---- ndots:2 and a wildcard entry: the first candidate is ours ----
resolv "search wild.example example" "options ndots:2"
fresh_log
out=$(shim "$H/resolv_probe" nsearch a.b MX)
like "$out" "^answer MX 10 $ONION2\.onion" "ndots 2: a.b tried as a.b.wild.example first, ours by .wild.example"
out=$(shim "$H/resolv_probe" nsearch mapped.example MX)
like "$out" "^answer MX 10 $ONION1\.onion" "a mapped name given as it is: answered as it is"
resolv "search sub.example example" "options ndots:2"
out=$(shim "$H/resolv_probe" nsearch plain.x MX)
like "$out" "^rc=-1 " "control plain.x, search sub.example example: not found anywhere"
q=$(dns_queries)
like "$q" "^MX plain\.x\.sub\.example$" "control: its first expansion plain.x.sub.example reached the server"
like "$q" "^MX plain\.x\.example$" "control: and the next, plain.x.example"
unlike "$q" "a\.b" "no query about a.b's candidates"
unlike "$q" "mapped" "no query about mapped.example, not even mapped.example.wild.example"

# ---- more search domains than res_state holds (6): glibc walks them all ----
resolv "search a1.example a2.example a3.example a4.example a5.example a6.example a7.example example"
fresh_log
out=$(shim "$H/resolv_probe" search mapped MX)
like "$out" "^answer MX 10 $ONION1\.onion" "8 search domains: mapped is mapped.example (the 8th), answered here"
out=$(shim "$H/resolv_probe" search plain MX)
like "$out" "^answer MX 10 mx\.plain\.example" "8 search domains: control plain answered by DNS"
q=$(dns_queries)
like "$q" "^MX plain\.a7\.example$" "control: its 7th candidate reached the server"
like "$q" "^MX plain\.example$" "control: and its 8th"
like "$q" "^MX mapped\.a7\.example$" "8 search domains: mapped's own 7th candidate (not ours) did reach it"
unlike "$q" "^MX mapped\.example$" "8 search domains: no query for mapped.example"
fresh_log
out=$(LOCALDOMAIN="a1.example a2.example a3.example a4.example a5.example a6.example a7.example example" \
	shim "$H/resolv_probe" search mapped MX)
like "$out" "^answer MX 10 $ONION1\.onion" "LOCALDOMAIN with 8 domains: mapped answered here"
unlike "$(dns_queries)" "^MX mapped\.example$" "LOCALDOMAIN with 8 domains: no query for mapped.example"

# ---- LOCALDOMAIN overrides the file's list ----
resolv "search nothing.invalid"
fresh_log
out=$(LOCALDOMAIN=example shim "$H/resolv_probe" search mapped MX)
like "$out" "^answer MX 10 $ONION1\.onion" "LOCALDOMAIN=example: mapped is mapped.example, answered here"
out=$(LOCALDOMAIN=example shim "$H/resolv_probe" search plain MX)
like "$out" "^answer MX 10 mx\.plain\.example" "LOCALDOMAIN=example: control plain answered by DNS"
q=$(dns_queries)
like "$q" "^MX plain\.example$" "LOCALDOMAIN: the control's expansion reached the server"
unlike "$q" "mapped" "LOCALDOMAIN: no query about mapped"
resolv "domain example"
fresh_log
out=$(shim "$H/resolv_probe" search mapped MX)
like "$out" "^answer MX 10 $ONION1\.onion" "\"domain example\": mapped is mapped.example, answered here"
unlike "$(dns_queries)" "mapped" "\"domain example\": no query about mapped"

# ---- onions: a label the list expands to .onion; an onion with ndots above its dots ----
resolv "search example onion" "options ndots:3"
fresh_log
for f in search nsearch; do
	out=$(shim "$H/resolv_probe" $f "$ONION1" A)
	like "$out" "^answer A $ADDR1 " "res_$f(onion label, A) with search example onion: the onion's address"
	out=$(shim "$H/resolv_probe" $f "$ONION1.onion" A)
	like "$out" "^answer A $ADDR1 " "res_$f(onion, A) with ndots 3: answered as it is"
done
out=$(shim "$H/netdb_probe" gai "$ONION1" 25 inet)
like "$out" "addr=$ADDR1 port=25" "getaddrinfo(onion label) with search onion: the onion's address"
out=$(shim "$H/netdb_probe" gai "$ONION_UNMAPPED" 25 inet)
like "$out" "^rc=EAI_AGAIN" "getaddrinfo(label of an onion not in the map): fails temporarily, nothing sent"
out=$(shim "$H/netdb_probe" gai "$ONION1.onion" 25 inet)
like "$out" "addr=$ADDR1 port=25" "getaddrinfo(onion) with ndots 3: answered as it is"
out=$(shim "$H/netdb_probe" ghbn "$ONION1")
like "$out" "addr $ADDR1" "gethostbyname(onion label) with search onion: the onion's address"
out=$(shim "$H/netdb_probe" ghbn2_r "$ONION1" inet 1024)
like "$out" "addr $ADDR1" "gethostbyname2_r(onion label): the onion's address"
out=$(shim "$H/netdb_probe" gai plainhost 25 inet)
like "$out" "addr=127\.0\.0\.50 port=25" "getaddrinfo(plainhost): control, answered by DNS"
q=$(dns_queries)
like "$q" "^A plainhost\.example$" "control: plainhost.example reached the server"
unlike "$q" "$ONION1|$ONION_UNMAPPED" "no candidate naming an onion reached the server"
unlike "$q" "onion" "no .onion name reached the server"

# ---- a client's own search list (BIND's dig +search, over its own socket):
# the DNS-socket guard answers X.onion.example NXDOMAIN in place ----
if command -v dig >/dev/null; then
	fresh_log
	out=$(shim dig +search +tries=1 +time=2 "$ONION1.onion" A 2>&1)
	like "$out" "$ONION1\.onion\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+$ADDR1" \
		"dig +search, ndots 3: X.onion.example refused as NXDOMAIN, then X.onion answered in place"
	out=$(shim dig +search +tries=1 +time=2 plain MX 2>&1)
	like "$out" "mx\.plain\.example" "dig +search plain: control, answered by DNS"
	q=$(dns_queries)
	like "$q" "^MX plain\.example$" "dig +search: the control's expansion reached the server"
	unlike "$q" "$ONION1|onion" "dig +search: no form of the onion name reached the server"
else
	echo "ok $((T_N + 1)) - # SKIP dig not installed (bind9-dnsutils)"
	T_N=$((T_N + 1))
fi

# ---- in an MTA a mapped domain's address is ours: getaddrinfo/gethostbyname ----
resolv "search example"
fresh_log
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" gai mapped 25 inet)
like "$out" "addr=$ADDR1 port=25" "MTA: getaddrinfo(mapped) with search example: the onion's address"
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" ghbn mapped)
like "$out" "addr $ADDR1" "MTA: gethostbyname(mapped): the onion's address"
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" ghbn2_r mapped inet6 1024)
like "$out" "addr ::ffff:$ADDR1" "MTA: gethostbyname2_r(mapped, AF_INET6): the address IPv4-mapped"
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" gai plainhost 25 inet)
like "$out" "addr=127\.0\.0\.50 port=25" "MTA: control plainhost answered by DNS"
q=$(dns_queries)
like "$q" "^A plainhost\.example$" "MTA: the control's expansion reached the server"
unlike "$q" "mapped" "MTA: no query about mapped.example"
# Under a wildcard-mapped search domain every dotless name has a candidate of ours.
resolv "search wild.example example"
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" gai other 25 inet)
like "$out" "addr=$ADDR2 port=25" "MTA, search wild.example: other is other.wild.example, ours"
out=$(ONIONMX_ACTIVE=1 shim "$H/netdb_probe" gai localhost 25 inet)
like "$out" "addr=127\.0\.0\.1 port=25" "MTA: but a name in /etc/hosts is found there, as glibc finds it"
resolv "search example"
fresh_log
out=$(shim "$H/netdb_probe" gai mapped 25 inet)
like "$out" "addr=127\.0\.0\.20 port=25" "outside an MTA, mapped.example's own address is not ours: DNS answers"
like "$(dns_queries)" "^A mapped\.example$" "and the server saw it (the domain's web site stays reachable)"

# ---- $HOSTALIASES: a dotless name asked as its alias alone ----
resolv "search example"
printf 'mail mapped.example\nweb %s.onion\nctl plain.example\n' "$ONION1" >"$T/aliases"
fresh_log
out=$(HOSTALIASES=$T/aliases shim "$H/resolv_probe" search mail MX)
like "$out" "^answer MX 10 $ONION1\.onion" "HOSTALIASES mail -> mapped.example: res_search(mail, MX) is its onion MX"
out=$(HOSTALIASES=$T/aliases shim "$H/netdb_probe" gai web 25 inet)
like "$out" "addr=$ADDR1 port=25" "HOSTALIASES web -> an onion: getaddrinfo(web) is the onion's address"
out=$(HOSTALIASES=$T/aliases shim "$H/resolv_probe" search ctl MX)
like "$out" "^answer MX 10 mx\.plain\.example" "HOSTALIASES ctl -> plain.example: control, answered by DNS"
q=$(dns_queries)
like "$q" "^MX plain\.example$" "HOSTALIASES: the control's alias reached the server"
unlike "$q" "mapped|onion|$ONION1" "HOSTALIASES: nothing about the mapped domain or the onion reached the server"

# ---- resolv.conf changed while a process runs: glibc reloads it into _res,
# and the list the library reads is the reloaded one ----
resolv "options ndots:1"
fresh_log
rm -f "$T/ready" "$T/go"
shim "$H/search_twice" plain.example mapped "$T/ready" "$T/go" >"$T/twice.out" 2>>"$T/lib.log" &
for _ in $(seq 200); do [ -e "$T/ready" ] && break; sleep 0.05; done
resolv "search example"
touch "$T/go"
wait $!
like "$(cat "$T/twice.out")" "^1 rc=[0-9]+ mx\.plain\.example$" "one process: the first lookup (no search list) answered by DNS"
like "$(cat "$T/twice.out")" "^2 rc=[0-9]+ $ONION1\.onion$" "after \"search example\" was added: mapped is mapped.example, answered here"
unlike "$(dns_queries)" "mapped" "and nothing about it reached the server"

# ---- getaddrinfo_a ----
resolv "search example onion"
for mode in wait suspend signal thread; do
	fresh_log
	out=$(shim "$H/netdb_probe" gai_a $mode "$ONION1.onion" "$ONION1" plainhost)
	like "$out" "^req $ONION1\.onion rc=0 addr=$ADDR1$" "getaddrinfo_a ($mode): an onion gets its address"
	like "$out" "^req $ONION1 rc=0 addr=$ADDR1$" "getaddrinfo_a ($mode): an onion label expanded by the list too"
	like "$out" "^req plainhost rc=0 addr=127\.0\.0\.50$" "getaddrinfo_a ($mode): control plainhost from DNS"
	[ $mode = signal ] || [ $mode = thread ] && like "$out" "^notified=$mode" "getaddrinfo_a ($mode): notified"
	q=$(dns_queries)
	like "$q" "^A plainhost\.example$" "getaddrinfo_a ($mode): the control reached the server"
	unlike "$q" "onion|$ONION1" "getaddrinfo_a ($mode): nothing about the onion reached the server"
done
for mode in wait signal thread; do
	out=$(shim "$H/netdb_probe" gai_a $mode "$ONION1.onion" "$ONION_UNMAPPED.onion")
	like "$out" "^req $ONION_UNMAPPED\.onion rc=EAI_AGAIN" "getaddrinfo_a ($mode), only ours: an onion not in the map fails temporarily"
	[ $mode = wait ] || like "$out" "^notified=$mode" "getaddrinfo_a ($mode), every request answered here: still notified"
done
unlike "$(dns_queries)" "onion" "nothing about those onions reached the server"
done_testing
