#!/bin/bash
# getaddrinfo of an onion (or, in an MTA, of a mapped domain) builds its list
# itself (shim/addrinfo.c) when the call is a common one: glibc's getaddrinfo is
# not asked. Seen by hiding glibc's getaddrinfo from the library (dlsym_spy:
# the library's binding of it is then a stub failing with EAI_SYSTEM): the
# common calls still answer, and with the same list as with it; a call left to
# glibc (a service name) fails, which shows the hiding works.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
setup_map || exit 1
if [ "${SAN:-}" = 1 ]; then
	echo "ok $((T_N += 1)) - # SKIP dlsym_spy: its dlsym() would stand before the sanitizer runtime's own bindings"
	done_testing
	exit
fi
echo "two.example $ONION1.onion $ONION2.onion:2525" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')
SPY="$H/dlsym_spy.so $LIB"
hidden() { DLSYM_SPY_MISSING=getaddrinfo LD_PRELOAD="$SPY" "$H/netdb_probe" "$@" 2>&1; }
with() { LD_PRELOAD="$LIB" "$H/netdb_probe" "$@" 2>&1; }

# Controls: with glibc's getaddrinfo hidden, a call left to it fails; with it,
# the same call answers.
like "$(hidden gai "$ONION1.onion" smtp inet)" "^rc=EAI_SYSTEM" \
	"(control: glibc's getaddrinfo hidden, a service name, left to glibc, fails with EAI_SYSTEM)"
like "$(with gai "$ONION1.onion" smtp inet)" "addr=$ADDR1 port=25" \
	"(control: with it, the same call gives the onion's address)"

for args in "25 inet" "25 unspec" "25 inet6" "- unspec" "0 inet" "65535 inet6 v4mapped,all" \
	"25 inet canon" "25 unspec addrconfig" "25 inet numericserv" "2525 unspec - dgram" "25 unspec - any"; do
	got=$(hidden gai "$ONION1.onion" $args)
	like "$got" "^ai family=inet6? .*addr=(::ffff:)?$ADDR1 " "gai onion $args: answered without glibc's getaddrinfo"
	is "$got" "$(with gai "$ONION1.onion" $args)" "gai onion $args: the same list as through glibc's getaddrinfo"
done
got=$(hidden gai-null "$ONION1.onion" 25)
is "$got" "$(with gai-null "$ONION1.onion" 25)" "gai onion, hints NULL: answered without glibc's getaddrinfo, the same list"
like "$got" "addr=$ADDR1 port=25" "... the onion's address"

# An MTA's getaddrinfo of a domain with two onions: one list, both addresses.
got=$(ONIONMX_ACTIVE=1 DLSYM_SPY_MISSING=getaddrinfo LD_PRELOAD="$SPY" "$H/netdb_probe" gai two.example 25 unspec canon any 2>&1)
is "$(printf '%s\n' "$got" | sed -n 's/.*addr=\([0-9.]*\) .*canon=\(.*\)/\1 \2/p' | tr '\n' ' ')" \
	"$ADDR1 two.example $ADDR1 - $ADDR1 - $ADDR2 - $ADDR2 - $ADDR2 - " \
	"MTA, two onions, any socket type: both addresses (TCP, UDP, raw each) without glibc's getaddrinfo, the name on the first"
is "$got" "$(ONIONMX_ACTIVE=1 LD_PRELOAD="$LIB" "$H/netdb_probe" gai two.example 25 unspec canon any 2>&1)" \
	"... the same list as through glibc's getaddrinfo"
done_testing
