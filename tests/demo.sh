#!/bin/bash
# make demo: one delivery as a mail operator would watch it. In a private network
# namespace: a real DNS server that gives mapped.example a clearnet MX, a SOCKS5
# server standing in for Tor, and an SMTP sink standing in for the onion MX.
# swaks, run under onionmx, sends one message to user@mapped.example.
. "$(dirname "$0")/lib.sh"
enter_netns "$@"
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

start_dns >/dev/null || exit 1
start_sink onion-mx 127.0.0.40:25 || exit 1
start_sink clearnet-mx 127.0.0.20:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
ONION=$("$H/onion_gen" demo)
printf '# domain          onion MX\nmapped.example    %s.onion\n' "$ONION" >"$T/domains"
printf 'socks = 127.0.0.1:9050\nmap = %s/domains.cdb\nlog = stderr\ntimeout = 30\n' "$T" >"$T/onionmx.conf"

section "The map ($T/domains), compiled with onionmx-map"
sed 's/^/    /' "$T/domains"
"$MAPTOOL" "$T/domains" | sed 's/^/    /'
"$MAPTOOL" -q mapped.example "$T/domains.cdb" | sed 's/^/    /'

section "What DNS says about mapped.example (no onionmx)"
"$H/resolv_probe" nsearch mapped.example MX | grep '^answer' | sed 's/^/    /'

: >"$T/dns.log" # from here on, the DNS server must hear nothing about it

section "What a program under onionmx sees (res_nsearch, as Postfix asks)"
ONIONMX_CONF=$T/onionmx.conf shim "$H/resolv_probe" nsearch mapped.example MX 2>/dev/null |
	grep -E '^(answer|id=)' | sed 's/^/    /'
ONIONMX_CONF=$T/onionmx.conf shim "$H/resolv_probe" nsearch "$ONION.onion" A 2>/dev/null |
	grep '^answer' | sed 's/^/    /'

section "Delivery: onionmx swaks --to user@mapped.example"
start=$(date +%s%N)
wrapper -c "$T/onionmx.conf" swaks --to user@mapped.example --from demo@sender.example \
	--header "Subject: hello over Tor" --body "This message travelled to an onion MX." \
	--timeout 20 2>&1 | grep -E '^(===|onionmx|<-  2|<\*\*|\*\*\*)' | sed 's/^/    /'
ms=$((($(date +%s%N) - start) / 1000000))

section "The SOCKS request (what Tor would have been asked)"
sed 's/^/    /' "$T/socks.log"

section "The message as it arrived at the onion MX"
f=$(ls "$T"/onion-mx/*.eml 2>/dev/null | head -1)
if [ -n "$f" ]; then
	tr -d '\r' <"$f" | sed 's/^/    /'
else
	echo "    (nothing arrived)"
fi

section "Summary"
echo "    messages at the onion MX:          $(sink_count onion-mx)"
echo "    connections to the clearnet MX:    $(sink_connections clearnet-mx)"
echo "    DNS queries about mapped.example or any .onion under onionmx: $(dns_queries | grep -cE 'mapped|onion')"
echo "    time for the whole swaks run:      ${ms} ms"
[ "$(sink_count onion-mx)" = 1 ] && [ "$(sink_connections clearnet-mx)" = 0 ]
