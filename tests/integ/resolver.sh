#!/bin/bash
# Every res_* entry point an MTA uses, new and pre-2.34 names: MX and _smtp._tcp
# SRV for a mapped domain (A/AAAA too in an MTA) and every question for an onion
# are answered in-process (checked with
# libresolv's parser), glibc's return conventions hold, nothing about them reaches
# the DNS server, and unmapped names get exactly what they get without the shim.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
like "$ADDR1" '^2(4[0-9]|5[0-5])\.' "the map gives $ONION1.onion an address in 240.0.0.0/4"

for probe in resolv_probe resolv_probe_old; do
	for f in nsearch nquery nquerydomain nsend search query querydomain send; do
		out=$(shim "$H/$probe" $f mapped.example MX)
		like "$out" "^answer MX 10 $ONION1\.onion ttl=" "$probe $f: MX of mapped.example is its onion"
		like "$out" "rcode=0 qr=1 aa=1 tc=0 rd=1 ra=1 qd=1 an=1" "$probe $f: header of the MX reply"
		like "$out" "^question mapped\.example 15" "$probe $f: question echoed"

		out=$(shim "$H/$probe" $f "$ONION1.onion" A)
		like "$out" "^answer A $ADDR1 ttl=" "$probe $f: A of the onion is its synthetic address"

		# AAAA: the same address IPv4-mapped (an IPv6-only MTA can use it).
		out=$(shim "$H/$probe" $f "$ONION1.onion" AAAA)
		like "$out" "^answer AAAA ::ffff:$ADDR1 ttl=" "$probe $f: AAAA of the onion is ::ffff:its address"
		out=$(shim "$H/$probe" $f "$ONION1.onion" TXT)
		if [[ $f == *send ]]; then
			like "$out" "rcode=0 .* an=0 ns=1" "$probe $f: TXT of the onion is NODATA"
		else
			like "$out" "^rc=-1 h_errno=4 res_h_errno=4" "$probe $f: TXT of the onion: -1, NO_DATA"
			like "$out" "reply left in buffer: yes" "$probe $f: NODATA reply left in the buffer"
		fi
		like "$out" "^authority SOA onion" "$probe $f: NODATA carries the SOA of onion."

		# Exim's check_srv: _smtp._tcp SRV of a mapped domain is NODATA, so its MX decides.
		out=$(shim "$H/$probe" $f _smtp._tcp.mapped.example SRV)
		if [[ $f == *send ]]; then
			like "$out" "rcode=0 .* an=0 ns=1" "$probe $f: _smtp._tcp SRV of mapped.example is NODATA"
		else
			like "$out" "^rc=-1 h_errno=4 res_h_errno=4" "$probe $f: _smtp._tcp SRV of mapped.example: -1, NO_DATA"
		fi
		# In an MTA (here: run as by the onionmx wrapper) a mapped domain's A and
		# AAAA are its onion's address (RFC 5321's implicit MX).
		out=$(ONIONMX_ACTIVE=1 shim "$H/$probe" $f mapped.example A)
		like "$out" "^answer A $ADDR1 ttl=" "$probe $f: in an MTA, A of mapped.example is its onion's address"
		out=$(ONIONMX_ACTIVE=1 shim "$H/$probe" $f mapped.example AAAA)
		like "$out" "^answer AAAA ::ffff:$ADDR1 ttl=" "$probe $f: in an MTA, AAAA of mapped.example is ::ffff:that"

		out=$(shim "$H/$probe" $f "aaaa$ONION1.onion" A)
		if [[ $f == *send ]]; then
			like "$out" "rcode=3 .* an=0 ns=1" "$probe $f: invalid onion is NXDOMAIN"
		else
			like "$out" "^rc=-1 h_errno=1 res_h_errno=1" "$probe $f: invalid onion: -1, HOST_NOT_FOUND"
			like "$out" "rcode=3 .*ns=1" "$probe $f: NXDOMAIN reply with SOA left in the buffer"
		fi

		# Unmapped: the shim must change nothing.
		with=$(shim "$H/$probe" $f plain.example MX | grep -v '^id=')
		without=$("$H/$probe" $f plain.example MX | grep -v '^id=')
		is "$with" "$without" "$probe $f: plain.example answered as without the shim"
		like "$with" "answer MX 10 mx\.plain\.example" "$probe $f: plain.example MX came from DNS"
	done
done

out=$(shim "$H/resolv_probe" nsend mapped.example MX)
like "$out" "id_echoed=yes" "res_nsend echoes the query ID"
out=$(shim "$H/resolv_probe" nsearch "$ONION_UNMAPPED.onion" A)
like "$out" "^rc=-1 h_errno=2 res_h_errno=2" "a valid onion not in the map fails temporarily (TRY_AGAIN)"
out=$(shim "$H/resolv_probe" nsearch "$ONION1.onion" TXT)
like "$out" "^rc=-1 h_errno=4" "TXT of an onion: NODATA"
out=$(shim "$H/resolv_probe" nsearch "_25._tcp.$ONION1.onion" TLSA)
like "$out" "^rc=-1 h_errno=4" "TLSA under an onion: NODATA, not sent to DNS"
out=$(shim "$H/resolv_probe" nsearch "MAPPED.Example." MX)
like "$out" "^question MAPPED\.Example 15" "case of the question preserved"
like "$out" "^answer MX 10 $ONION1\.onion" "case-insensitive, trailing dot ignored"
out=$(shim "$H/resolv_probe" nsearch "a.b.wild.example" MX)
like "$out" "^answer MX 10 $ONION2\.onion" ".wild.example covers a.b.wild.example"
out=$(shim "$H/resolv_probe" nsearch "wild.example" MX)
# The probe must have run and reported (rc=...) for "no onion" to mean anything.
like "$out" "^rc=" "wild.example: the probe answered"
unlike "$out" "onion" ".wild.example does not cover wild.example itself"
out=$(shim "$H/resolv_probe" nsearch mapped.example MX 40)
like "$out" "^rc=40 " "a 40-byte buffer gets 40 bytes"
like "$out" "parse: failed|tc=1" "and the truncated reply has TC set"
out=$(shim "$H/resolv_probe" nsearch mapped.example MX 8)
like "$out" "^rc=-1 h_errno=3" "a buffer smaller than a header: -1, NO_RECOVERY"

for f in nsearch nsend; do
	with=$(shim "$H/resolv_probe" $f 1.0.0.127.in-addr.arpa PTR | grep -v '^id=')
	without=$("$H/resolv_probe" $f 1.0.0.127.in-addr.arpa PTR | grep -v '^id=')
	is "$with" "$without" "$f: PTR lookups pass through untouched"
done
# PTR of a synthetic address (OpenSMTPD asks it of the MX address it connects
# to): the onion's name, in-process; an unassigned one in the range: NXDOMAIN.
REV1=$(echo "$ADDR1" | awk -F. '{ print $4 "." $3 "." $2 "." $1 ".in-addr.arpa" }')
for f in nsearch nsend; do
	out=$(shim "$H/resolv_probe" $f "$REV1" PTR)
	like "$out" "^answer PTR $ONION1\.onion ttl=" "$f: PTR of $ADDR1 is $ONION1.onion, answered in-process"
done
out=$(shim "$H/resolv_probe" nsearch 0.0.0.240.in-addr.arpa PTR)
like "$out" "^rc=-1 h_errno=1 " "PTR of 240.0.0.0 (in the map's range, no onion's): NXDOMAIN"
queries=$(dns_queries)
unlike "$queries" "\.(24[0-9]|25[0-5])\.in-addr\.arpa$" "the DNS server saw no PTR question about a synthetic address"
like "$queries" "PTR 1\.0\.0\.127\.in-addr\.arpa" "and reach the DNS server"
unlike "$queries" "mapped\.example$" "the DNS server saw no query at all for mapped.example"
unlike "$queries" "^MX .*mapped\.example" "no MX query for mapped.example at all"
unlike "$queries" "\.onion" "the DNS server saw no .onion name"
like "$queries" "^MX plain\.example" "while plain.example was asked of it"
unlike "$queries" "SRV _smtp\._tcp\.mapped\.example" "no _smtp._tcp SRV query for mapped.example"
: >"$T/dns.log"
out=$(shim "$H/resolv_probe" nsearch mapped.example A)
like "$out" "answer A 127\.0\.0\.20" "outside an MTA, A of a mapped domain is not ours: it comes from DNS (its web site)"
out=$(shim "$H/resolv_probe" nsearch _smtp._tcp.plain.example SRV)
like "$(dns_queries)" "SRV _smtp\._tcp\.plain\.example" "an unmapped domain's _smtp._tcp SRV is asked of DNS"
done_testing
