#!/bin/bash
# DNS queries a program sends itself, around libc's resolver: over unconnected
# UDP (answered in place), over TCP and connected UDP (refused) - none about a
# mapped domain or an onion reaches the DNS server; other queries pass.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
P="perl $TOP/tests/helpers/dns_bypass.pl"

out=$(shim $P udp mapped.example MX 2>/dev/null)
like "$out" "answer mapped\.example\. 60 IN MX 10 $ONION1\.onion\." \
	"unconnected UDP: the MX query for a mapped domain is answered in place"
out=$(shim $P udp "$ONION1.onion" A 2>/dev/null)
like "$out" "IN A 2[45][0-9]\." "unconnected UDP: an onion's A query gets its synthetic address"
out=$(shim $P udp plain.example MX 2>/dev/null)
like "$out" "MX 10 mx\.plain\.example" "unconnected UDP: other queries reach the DNS server"

for mode in tcp cudp; do
	out=$(shim $P $mode mapped.example MX 2>"$T/stderr")
	unlike "$out" "answer" "$mode: no answer for the mapped domain's MX"
	like "$(cat "$T/stderr")" "refused a DNS query for mapped\.example .* port 53" "$mode: the refusal is logged"
	out=$(shim $P $mode "$ONION1.onion" AAAA 2>/dev/null)
	unlike "$out" "answer" "$mode: no answer for an onion name"
	out=$(shim $P $mode plain.example MX 2>/dev/null)
	like "$out" "MX 10 mx\.plain\.example" "$mode: other queries pass and are answered"
	without=$($P $mode mapped.example MX 2>/dev/null)
	like "$without" "mx\.mapped\.example" "$mode: without the shim the same query would reach DNS (control)"
done
queries=$(dns_queries)
is "$(printf '%s\n' "$queries" | grep -c 'mapped\.example')" 2 "the DNS server saw mapped.example only from the two control runs"
unlike "$queries" "\.onion" "the DNS server saw no onion name"
like "$queries" "MX plain\.example" "it did see the unmapped queries"
done_testing
