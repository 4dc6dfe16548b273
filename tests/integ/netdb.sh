#!/bin/bash
# getaddrinfo and gethostbyname* answer onion names with the map's synthetic
# address, behaving exactly like an IPv4-only name served by DNS (the reference,
# v4only.example, is looked up for real with and without the shim), and never ask
# DNS; other names pass through untouched.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns --host-record=v4only.example,127.0.0.50 || exit 1
setup_map || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')

# Runs the probe on the onion and on the reference name and compares them with
# the names and addresses swapped. WANT is what the reference lookup itself must
# have given (a pattern for its first line), so that the two failing alike (DNS
# down, the probe broken) cannot pass as "the same".
same_as_dns() { # same_as_dns DESCRIPTION WANT PROBE-ARGS... (NAME stands for the name)
	local desc=$1 want=$2 onion_out ref_out
	shift 2
	# (h_errno after a successful gethostbyname is unspecified: glibc leaves
	# whatever its "files" lookup set, so it is not compared.)
	onion_out=$(shim "$H/netdb_probe" "${@/NAME/$ONION1.onion}" 2>&1 | sed 's/^result=ok h_errno=.*/result=ok/')
	ref_out=$(shim "$H/netdb_probe" "${@/NAME/v4only.example}" 2>&1 | sed 's/^result=ok h_errno=.*/result=ok/' |
		sed "s/v4only\.example/$ONION1.onion/g; s/127\.0\.0\.50/$ADDR1/g")
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
same_as_dns "gai inet6 without v4mapped" "^rc=EAI_NODATA$" gai NAME 25 inet6
same_as_dns "gai hints NULL" "^rc=0$" gai-null NAME 25
same_as_dns "gai bad service" "^rc=EAI_SERVICE$" gai NAME nosuchservice inet
same_as_dns "gethostbyname" "^result=ok$" ghbn NAME
same_as_dns "gethostbyname2 inet" "^result=ok$" ghbn2 NAME inet
same_as_dns "gethostbyname2 inet6" "^result=null h_errno=NO_DATA$" ghbn2 NAME inet6
same_as_dns "gethostbyname_r" "^rc=0 result=ok" ghbn_r NAME 1024
same_as_dns "gethostbyname_r small buffer" "^rc=ERANGE " ghbn_r NAME 8
same_as_dns "gethostbyname2_r inet" "^rc=0 result=ok" ghbn2_r NAME inet 1024
same_as_dns "gethostbyname2_r inet6" "^rc=0 result=null h_errno=NO_DATA$" ghbn2_r NAME inet6 1024

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

# freeaddrinfo of our results: valgrind memcheck on the probe under the shim.
if command -v valgrind >/dev/null && [ "${SAN:-}" != 1 ]; then
	vg=$(LD_PRELOAD="$LIB" valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=9 "$H/netdb_probe" gai "$ONION1.onion" 25 unspec canon any 2>&1)
	ok $? "valgrind: getaddrinfo+freeaddrinfo of an onion with AI_CANONNAME, no error or leak"
	[ $? != 0 ] && echo "$vg" | sed 's/^/# /' | head -20
fi
done_testing
