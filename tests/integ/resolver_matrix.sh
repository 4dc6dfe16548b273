#!/bin/bash
# The resolver matrix: the DNS clients people run, each under the library,
# asked MX of a mapped domain and of a wildcard-mapped subdomain, A and AAAA of
# a mapped onion and of a valid onion that is not in the map, and one unmapped
# name as a control. For each: what the client printed, reduced to a result
# (see RESULTS below), and the queries the DNS server logged and tcpdump saw
# on lo port 53 while that one client ran (a marker query sent before each
# run splits both logs). A query about a mapped domain or an onion seen by
# either is a leak; every client's control must be seen by both, so a broken
# observation channel cannot pass. No timing thresholds: every client gets a
# two-second timeout and a single try, so a hang prints as a failure.
#
# Each result is also printed as "# matrix: CLIENT | QUERY | RESULT"; the
# README's client table is generated from those lines (make readme-table,
# tests/matrix_table.sh), and the last check here fails if the README's table
# differs from this run's.
#
# RESULTS
#   onion     the MX answer is the map's onion MX (answered in place)
#   synth     the A answer is the onion's synthetic address
#   v4map     the AAAA answer is ::ffff: and the synthetic address
#   refused   the query was refused at once (DNS over TCP); the client reports
#             a failed server
#   SERVFAIL  the client reports SERVFAIL (an onion that is not in the map)
#   TRYAGAIN  the client reports a temporary failure (getaddrinfo EAI_AGAIN)
#   none      no record and none of the failures above: the client declines
#             .onion names itself, drops a v4-mapped AAAA, or hides a SERVFAIL
#   server    control: the unmapped name's answer came from the DNS server
#   LEAK      the query reached the DNS server or the wire
#   TIMEOUT, other: failures
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
shopt -s extglob # acceptable()'s patterns
# glibc's resolver (getent, getaddrinfo, curl, Go with cgo): one try, 2 s.
echo "options timeout:2 attempts:1" >>"$T/resolv.conf"
start_dns || exit 1
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_sink plain 127.0.0.30:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
SYNTH=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*(address \([0-9.]*\)).*/\1/p')
like "$SYNTH" '^2[45][0-9]\.' "the mapped onion has a synthetic address ($SYNTH)"
# The same address in the hexadecimal form some clients print an AAAA in.
# shellcheck disable=SC2086 # one argument per octet
SYNTH_HEX=$(printf '%02x%02x:%02x%02x' ${SYNTH//./ } | sed 's/^0*//; s/:0*\([0-9a-f]\)/:\1/')
M=$TOP/tests/matrix
PY=/usr/bin/python3

missing=()
have() { # have TOOL: true if TOOL is installed; else it joins $missing
	command -v "$1" >/dev/null && return 0
	missing+=("$1")
	return 1
}

# Go: built now, from the standard library only, offline, in $T.
GO_BIN=
if have go; then
	if GO111MODULE=off GOPROXY=off GOFLAGS='' CGO_ENABLED=1 GOCACHE="$T/go/cache" GOPATH="$T/go/path" \
		go build -o "$T/lookup" "$M/lookup.go" 2>"$T/go.err"; then
		GO_BIN=$T/lookup
	else
		sed 's/^/# go build: /' "$T/go.err"
		missing+=("go build")
	fi
fi

# The capture: every packet to or from port 53 on lo, written as it comes.
TCPDUMP_PID=
if have tcpdump; then
	tcpdump --immediate-mode -Z root -i lo -n -U -w "$T/dns.pcap" 'port 53' 2>"$T/tcpdump.err" &
	TCPDUMP_PID=$!
	PIDS+=("$TCPDUMP_PID")
	for _ in $(seq 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done
fi

# marker K: an A query for marker-K.example, straight from this shell (no
# library), that opens cell K in both the server's log and the capture.
# Waits until the server logged it, so the cell's own queries come after.
marker() {
	local k=$1
	# One write, one datagram: no byte 0x0a, which would flush bash's
	# line-buffered printf in the middle.
	printf '\x4d\x4b\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06marker\x04%04d\x07example\x00\x00\x01\x00\x01' "$k" \
		>/dev/udp/127.0.0.1/53
	for _ in $(seq 200); do
		grep -q "query\[A\] marker\.$(printf %04d "$k")\.example" "$T/dns.log" && return 0
		sleep 0.01
	done
	echo "# marker $k never reached the server"
}

# The clients. Each runs one query (NAME TYPE) under the library and prints
# what the client printed, stdout and stderr together; "timeout 10" only
# catches a client whose own two-second timeout did not work (TIMEOUT).
run() {
	timeout -k 1 10 env LD_PRELOAD="$PRELOAD" "$@" 2>&1
	local st=$?
	[ $st = 124 ] || [ $st = 137 ] && echo "TIMEOUT: killed after 10 s"
	return $st
}
c_dig() { run dig +tries=1 +time=2 @127.0.0.1 "$1" "$2"; }
c_host() { run host -W 2 -R 1 -t "$2" "$1" 127.0.0.1; }
c_nslookup() { run nslookup -timeout=2 -retry=1 -type="$2" "$1" 127.0.0.1; }
c_kdig() { run kdig +retry=0 +time=2 @127.0.0.1 "$1" "$2"; }
c_kdig_tcp() { run kdig +tcp +retry=0 +time=2 @127.0.0.1 "$1" "$2"; }
c_drill() { run drill @127.0.0.1 "$1" "$2"; }
c_drill_tcp() { run drill -t @127.0.0.1 "$1" "$2"; }
c_dnspython_udp() { run $PY "$M/dnspython.py" udp "$1" "$2"; }
c_dnspython_tcp() { run $PY "$M/dnspython.py" tcp "$1" "$2"; }
c_netdns() { run perl "$M/netdns.pl" default "$1" "$2"; }
c_netdns_usevc() { run perl "$M/netdns.pl" usevc "$1" "$2"; }
c_netdns_persistent() { run perl "$M/netdns.pl" persistent "$1" "$2"; }
c_netdns_connected() { run perl "$M/netdns.pl" connected "$1" "$2"; }
c_node_resolve() { run node "$M/node.js" resolve "$1" "$2"; }
c_node_lookup() { run node "$M/node.js" lookup "$1" "$2"; }
c_ruby() { run ruby "$M/resolv.rb" "$1" "$2"; }
c_go() { GODEBUG=netdns=go run "$GO_BIN" "$1" "$2"; }
c_go_cgo() { GODEBUG=netdns=cgo run "$GO_BIN" "$1" "$2"; }
# getent ahostsv4/ahostsv6 (getaddrinfo with AI_ADDRCONFIG); its control goes
# through "getent hosts" (gethostbyname2): with no address but loopback in the
# namespace, AI_ADDRCONFIG makes glibc ask nothing for an ordinary name.
c_getent() {
	local db=ahostsv4
	[ "$2" = AAAA ] && db=ahostsv6
	[ "$1" = mx.plain.example ] && db=hosts
	run getent "$db" "$1"
	echo "exit $?"
}
c_getaddrinfo() {
	run $PY -c '
import socket, sys
fam = socket.AF_INET6 if sys.argv[2] == "AAAA" else socket.AF_INET
try:
    for ai in socket.getaddrinfo(sys.argv[1], 25, fam, socket.SOCK_STREAM):
        print("answer", sys.argv[2], ai[4][0])
except socket.gaierror as e:
    print("error", e)' "$1" "$2"
}
c_curl() {
	local v=-4
	[ "$2" = AAAA ] && v=-6
	run curl -sS -v "$v" --connect-timeout 2 -m 3 "http://$1:25/"
}
c_swaks() { run swaks --to "user@$1" --from a@sender.example --quit-after connect --timeout 3; }

# CLIENT LABEL|FUNCTION|TYPES|REQUIREMENT (a command that must work)
CLIENTS=(
	"dig|c_dig|MX A AAAA|command -v dig"
	"host|c_host|MX A AAAA|command -v host"
	"nslookup|c_nslookup|MX A AAAA|command -v nslookup"
	"kdig|c_kdig|MX A AAAA|command -v kdig"
	"kdig +tcp|c_kdig_tcp|MX A AAAA|command -v kdig"
	"drill|c_drill|MX A AAAA|command -v drill"
	"drill -t|c_drill_tcp|MX A AAAA|command -v drill"
	"dnspython UDP|c_dnspython_udp|MX A AAAA|$PY -c 'import dns.query'"
	"dnspython TCP|c_dnspython_tcp|MX A AAAA|$PY -c 'import dns.query'"
	"Net::DNS|c_netdns|MX A AAAA|perl -MNet::DNS -e1"
	"Net::DNS usevc|c_netdns_usevc|MX A AAAA|perl -MNet::DNS -e1"
	"Net::DNS persistent|c_netdns_persistent|MX A AAAA|perl -MNet::DNS -e1"
	"Net::DNS connected|c_netdns_connected|MX A AAAA|perl -MNet::DNS -e1"
	"Node dns.resolve*|c_node_resolve|MX A AAAA|command -v node"
	"Node dns.lookup|c_node_lookup|A AAAA|command -v node"
	"Ruby Resolv|c_ruby|MX A AAAA|command -v ruby"
	"Go netdns=go|c_go|MX A AAAA|test -n '$GO_BIN'"
	"Go netdns=cgo|c_go_cgo|MX A AAAA|test -n '$GO_BIN'"
	"getent ahosts|c_getent|A AAAA|command -v getent"
	"Python getaddrinfo|c_getaddrinfo|A AAAA|command -v $PY"
	"curl|c_curl|A AAAA|command -v curl"
	"swaks|c_swaks|MX|command -v swaks"
)
# What LD_PRELOAD cannot reach, stated in the README: Go's own resolver makes
# raw system calls. Such a cell passes only as the leak it is (the host-wide
# layer, tests/integ/hostwide.sh, covers it); if it stops leaking, this fails
# and the README must be updated.
KNOWN_LEAKS="|Go netdns=go|MX mapped| |Go netdns=go|MX wildcard| |Go netdns=cgo|MX mapped| |Go netdns=cgo|MX wildcard|"

# The queries: QUERY LABEL|NAME|TYPE. "control" is asked of every client: an
# MX of plain.example, or (clients that only look up addresses) the address
# of mx.plain.example; swaks sends mail to the domain.
QUERIES=(
	"MX mapped|mapped.example|MX"
	"MX wildcard|sub.wild.example|MX"
	"A onion|$ONION1.onion|A"
	"AAAA onion|$ONION1.onion|AAAA"
	"A other onion|$ONION_UNMAPPED.onion|A"
	"AAAA other onion|$ONION_UNMAPPED.onion|AAAA"
)

# Runs every cell: cell K's output in $T/cell.K, its description in CELL[K].
CELL=()
MS=()
k=0
for c in "${CLIENTS[@]}"; do
	IFS='|' read -r client fn types req <<<"$c"
	if ! eval "$req" >/dev/null 2>&1; then
		echo "# skip $client: not available here ($req)"
		missing+=("$client")
		continue
	fi
	if [ "${SAN:-}" = 1 ] && [[ $client = @(kdig|curl)* ]]; then
		echo "# skip $client: under the ASan runtime alone, without the library, it hangs (kdig at exit: p11-kit's destructor, setlocale lock; curl --version too)"
		missing+=("$client")
		continue
	fi
	for q in "${QUERIES[@]}" "control||"; do
		IFS='|' read -r label name type <<<"$q"
		if [ "$label" = control ]; then
			if [[ $types = *MX* ]]; then name=plain.example type=MX; else name=mx.plain.example type=A; fi
		fi
		[[ " $types " = *" $type "* ]] || continue
		k=$((k + 1))
		marker "$k"
		start=$EPOCHREALTIME
		$fn "$name" "$type" >"$T/cell.$k"
		# Shown, never asserted: the whole client run, process start included.
		MS[k]=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
		CELL[k]="$client|$label|$name|$type"
	done
done
NCELLS=$k
marker $((NCELLS + 1))

# The capture as text, once tcpdump has written the last marker.
wire=
if [ -n "$TCPDUMP_PID" ]; then
	for _ in $(seq 200); do
		tcpdump -n -r "$T/dns.pcap" 2>/dev/null | grep -q "marker\.$(printf %04d $((NCELLS + 1)))\.example" && break
		sleep 0.02
	done
	stop_pid "$TCPDUMP_PID"
	wire=$(tcpdump -n -r "$T/dns.pcap" 2>/dev/null)
fi
# Per cell, "K TYPE NAME" for each question seen: at the server, on the wire.
split_cells() { awk '{ if ($2 ~ /^marker\.[0-9]+\.example$/) { split($2, m, "."); k = m[2] + 0; next } print k, $0 }'; }
seen_server=$(dns_queries | awk '{ print $1, tolower($2) }' | split_cells)
seen_wire=$(printf '%s\n' "$wire" | sed -n 's/.* \([A-Z0-9]*\)? \([^ ]*\)\. .*/\1 \2/p' |
	awk '{ print $1, tolower($2) }' | split_cells)
OURS='^(.*\.)?(mapped|wild)\.example$|\.onion$'
ours_in() { printf '%s\n' "$2" | awk -v k="$1" -v re="$OURS" '$1 == k && $3 ~ re { c++ } END { print c + 0 }'; }
name_in() { printf '%s\n' "$3" | awk -v k="$1" -v n="$2" '$1 == k && $3 == n { c++ } END { print c + 0 }'; }

# classify K: the result of cell K (see RESULTS at the top).
classify() {
	local k=$1 out client label name type
	IFS='|' read -r client label name type <<<"${CELL[k]}"
	out=$(cat "$T/cell.$k")
	# A client that hung, even after printing an answer, failed.
	if printf '%s\n' "$out" | grep -q '^TIMEOUT: killed'; then
		echo TIMEOUT
		return
	fi
	if [ "$label" = control ]; then
		local want=mx.plain.example
		[ "$type" = A ] && want=127.0.0.30
		if printf '%s\n' "$out" | grep -Fq "$want" &&
			[ "$(name_in "$k" "$name" "$seen_server")" != 0 ] &&
			{ [ -z "$TCPDUMP_PID" ] || [ "$(name_in "$k" "$name" "$seen_wire")" != 0 ]; }; then
			echo server
		else
			echo unseen
		fi
		return
	fi
	if [ "$(ours_in "$k" "$seen_server")" != 0 ] || [ "$(ours_in "$k" "$seen_wire")" != 0 ] ||
		printf '%s\n' "$out" | grep -Eq 'mx\.mapped\.example|127\.0\.0\.20'; then
		echo LEAK
		return
	fi
	case $label in
	"MX mapped") printf '%s\n' "$out" | grep -Fq "$ONION1.onion" && { echo onion; return; } ;;
	"MX wildcard") printf '%s\n' "$out" | grep -Fq "$ONION2.onion" && { echo onion; return; } ;;
	"A onion") printf '%s\n' "$out" | grep -Eq "(^|[^:0-9.])${SYNTH//./\\.}([^0-9]|$)" && { echo synth; return; } ;;
	"AAAA onion") printf '%s\n' "$out" | grep -Eiq "::ffff:(${SYNTH//./\\.}|$SYNTH_HEX)([^0-9a-f]|$)" && { echo v4map; return; } ;;
	esac
	if printf '%s\n' "$out" | grep -Eq '2[45][0-9]\.[0-9]+\.[0-9]+\.[0-9]+|\.onion\.?$|\.onion\.? '; then
		# An address or onion, but not the one asked for.
		printf '%s\n' "$out" | grep -Eq '^answer|has (IPv6 )?address|mail exchanger|handled by|IN[[:space:]]+(MX|A|AAAA)[[:space:]]' &&
			{ echo other; return; }
	fi
	if printf '%s\n' "$out" | grep -Eiq 'timed out|timeout|no servers could be reached'; then
		echo TIMEOUT
	elif printf '%s\n' "$out" | grep -q 'SERVFAIL'; then
		echo SERVFAIL
	elif printf '%s\n' "$out" | grep -q 'onionmx: refused a DNS query'; then
		echo refused
	elif printf '%s\n' "$out" | grep -Eq 'EAI_AGAIN|Temporary failure in name resolution'; then
		echo TRYAGAIN
	elif printf '%s\n' "$out" | grep -Eq '^answer |has (IPv6 )?address|Address: [0-9a-f:.]+$|IN[[:space:]]+(A|AAAA|MX)[[:space:]]'; then
		echo other
	else
		echo none
	fi
}

# What each query may get: an answer from the map, or a failure at once that
# sends nothing.
acceptable() { # acceptable LABEL RESULT
	case "$1:$2" in
	"MX mapped:onion" | "MX wildcard:onion" | MX*:refused) return 0 ;;
	"A onion:synth" | "AAAA onion:v4map" | "A onion:"@(refused|none) | "AAAA onion:"@(refused|none)) return 0 ;;
	*"other onion:"@(SERVFAIL|TRYAGAIN|refused|none)) return 0 ;;
	"control:server") return 0 ;;
	esac
	return 1
}

for k in $(seq "$NCELLS"); do
	IFS='|' read -r client label name type <<<"${CELL[k]}"
	result=$(classify "$k")
	detail=$(grep -v '^onionmx\[' "$T/cell.$k" | grep -E -m 3 'answer|handled by|exchanger|Address:|address|IN[[:space:]]+(MX|A|AAAA)[[:space:]]|status|rcode|error|Error|ERROR|refused|Trying|not found|exit ' |
		sed "s/$ONION1/ONION1/g; s/$ONION2/ONION2/g; s/$ONION_UNMAPPED/OTHER/g" | tr -s ' \t' ' ' | paste -sd '/' | cut -c1-160)
	if [ "$result" = LEAK ] && [[ $KNOWN_LEAKS = *"|$client|$label|"* ]]; then
		ok 0 "$client, $label ($type $name): LEAK, a known limit (raw system calls; the host-wide layer covers it)"
	elif acceptable "$label" "$result"; then
		ok 0 "$client, $label: $result"
	else
		ok 1 "$client, $label ($type $name): $result"
		sed 's/^/#   printed: /' "$T/cell.$k" | head -15
		echo "#   server saw: $(printf '%s\n' "$seen_server" | awk -v k="$k" '$1 == k { printf "%s %s; ", $2, $3 }')"
		echo "#   wire saw: $(printf '%s\n' "$seen_wire" | awk -v k="$k" '$1 == k { printf "%s %s; ", $2, $3 }')"
	fi
	echo "#   $detail (${MS[k]} ms)"
	[ "$label" != control ] && matrix_row "$client" "$label" "$result"
done

# Over the whole run, outside the known limits' cells: nothing about a mapped
# domain or an onion at the server or on the wire; the unmapped names seen.
known_cells=" "
for k in $(seq "$NCELLS"); do
	IFS='|' read -r client label _ <<<"${CELL[k]}"
	[[ $KNOWN_LEAKS = *"|$client|$label|"* ]] && known_cells+="$k "
done
outside() { printf '%s\n' "$1" | awk -v known="$known_cells" 'index(known, " " $1 " ") == 0 { print $2, $3 }'; }
unlike "$(outside "$seen_server")" "$OURS" "the DNS server saw no query about a mapped domain or an onion"
like "$(outside "$seen_server")" "^MX plain\.example$" "control: the DNS server saw the unmapped queries"
markers() { printf '%s\n' "$1" | grep -Eo 'marker\.[0-9]+\.example' | sort -u | wc -l; }
is "$(markers "$(dns_queries)")" $((NCELLS + 1)) "the DNS server logged every cell's marker"
if [ -n "$TCPDUMP_PID" ]; then
	is "$(markers "$wire")" $((NCELLS + 1)) "tcpdump captured every cell's marker (no packet lost)"
	unlike "$(outside "$seen_wire")" "$OURS" "tcpdump on lo port 53 saw no query about a mapped domain or an onion"
	like "$(outside "$seen_wire")" "^MX plain\.example$" "control: tcpdump saw the unmapped queries"
else
	ok 0 "# SKIP tcpdump is not installed: no capture on the wire"
fi

# The README's table is this run's: it cannot drift.
if [ ${#missing[@]} != 0 ]; then
	matrix_readme_check "not every client ran here (missing: ${missing[*]})"
elif [ "${SAN:-}" = 1 ]; then
	matrix_readme_check "it is compared in the plain run, not under SAN=1"
else
	matrix_readme_check
fi
done_testing
