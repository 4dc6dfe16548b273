#!/bin/bash
# The host-wide layer (README, "The host-wide layer"), for what LD_PRELOAD cannot
# reach: unbound carrying the map (onionmx-map -u) and a route making the
# synthetic ranges unreachable. Every program here runs WITHOUT the library:
# dig, host, nslookup, kdig, drill, getent, and a static Go binary using Go's
# own resolver (GODEBUG=netdns=go, CGO_ENABLED=0). Mapped MX and onions are answered by unbound with the map's
# own addresses, the rest of .onion gets NXDOMAIN, and no query about them
# reaches the upstream DNS server (dnsmasq, logging every query), while other
# names do (control). A connect to a synthetic address fails at once with
# EHOSTUNREACH, and nothing leaves; without the route the same connect would
# send a packet (control, on a veth pair inside the namespace, connected only
# to itself). Rows "# matrix: CLIENT | QUERY | RESULT" feed the README's table.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
setup_map || exit 1
unset ONIONMX_CONF

# Upstream: dnsmasq on 127.0.0.2:53 (the clearnet answers); unbound on
# 127.0.0.1:53, where resolv.conf points, forwards to it.
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
	--listen-address=127.0.0.2 --bind-interfaces --port=53 --local=/example/ --local=/onion/ \
	--log-queries --log-facility="$T/dns.log" --pid-file="$T/dnsmasq.pid" \
	--mx-host=mapped.example,mx.mapped.example,10 \
	--host-record=mx.mapped.example,127.0.0.20 \
	--host-record=mapped.example,127.0.0.20 \
	--mx-host=sub.wild.example,mx.mapped.example,10 \
	--mx-host=new.example,mx.mapped.example,10 \
	--mx-host=plain.example,mx.plain.example,10 \
	--host-record=mx.plain.example,127.0.0.30 || exit 1
wait_pidfile "$T/dnsmasq.pid" || exit 1

INC=$T/unbound-onionmx.conf
out=$("$MAPTOOL" -u "$INC" "$T/domains" 2>&1)
ok $? "onionmx-map -u compiles the map and writes the unbound include"
like "$out" "written from .*domains\.cdb" "... and says it wrote it from the compiled map"
cat >"$T/unbound.conf" <<EOM
server:
	interface: 127.0.0.1@53
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "$T"
	pidfile: "$T/unbound.pid"
	use-syslog: no
	logfile: "$T/unbound.log"
	verbosity: 1
	module-config: "iterator"
	num-threads: 1
	so-reuseport: no
	qname-minimisation: no
include: "$INC"
forward-zone:
	name: "."
	forward-addr: 127.0.0.2@53
remote-control:
	control-enable: yes
	control-interface: "$T/unbound.ctl"
	control-use-cert: no
EOM
out=$(unbound-checkconf "$T/unbound.conf" 2>&1)
ok $? "unbound-checkconf accepts the include"
unbound -c "$T/unbound.conf" || exit 1
wait_pidfile "$T/unbound.pid" || exit 1

ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*(address \([0-9.]*\)).*/\1/p')
ADDR2=$("$MAPTOOL" -q "$ONION2.onion" "$T/domains.cdb" | sed -n 's/.*(address \([0-9.]*\)).*/\1/p')
like "$ADDR1" '^24[0-7]\.' "the map gives onion 1 a synthetic address ($ADDR1)"

ROWS=()
emit_row() { # emit_row "CLIENT | QUERY | RESULT": one cell of the README's table
	local rest=${1#* | }
	matrix_row "${1%% | *}" "${rest%% | *}" "${rest#* | }"
}
row() { # row CLIENT QUERY STATUS RESULT GOT: a matrix row from what was observed
	case $2 in # the table's columns; the other checks are not cells
	"MX mapped" | "MX wildcard" | "A onion" | "AAAA onion" | "A other onion" | "AAAA other onion" | "connect synth"*) ;;
	*) return 0 ;;
	esac
	if [ "$3" = 0 ]; then
		ROWS+=("$1 | $2 | $4")
	else
		ROWS+=("$1 | $2 | WRONG: $(printf '%s' "$5" | tr '\n' ' ' | cut -c1-80)")
	fi
}
check() { # check CLIENT QUERY GOT REGEX RESULT DESCRIPTION
	local status=1
	printf '%s\n' "$3" | grep -Eq -- "$4" && status=0
	like "$3" "$4" "$6"
	row "$1" "$2" "$status" "$5" "$3"
}

DIG="dig"
d() { env -u LD_PRELOAD dig +tries=1 +time=5 @127.0.0.1 "$@" 2>&1; }
check "$DIG" "MX mapped" "$(d +short MX mapped.example)" "^10 $ONION1\.onion\.$" \
	"onion" "dig: a mapped domain's MX is its onion"
check "$DIG" "MX wildcard" "$(d +short MX sub.wild.example)" "^10 $ONION2\.onion\.$" \
	"onion" "dig: a subdomain of a .wild.example entry gets its onion MX"
check "$DIG" "A onion" "$(d +short A "$ONION1.onion")" "^${ADDR1//./\\.}$" \
	"synth" "dig: a mapped onion's A is the map's synthetic address"
check "$DIG" "AAAA onion" "$(d +short AAAA "$ONION1.onion")" "^::ffff:${ADDR1//./\\.}$" \
	"v4map" "dig: its AAAA is the same address v4-mapped, as the library answers"
check "$DIG" "A onion, upper case" "$(d +short A "${ONION2^^}.ONION")" "^${ADDR2//./\\.}$" \
	"synth" "dig: case does not matter"
check "$DIG" "A name below an onion" "$(d +short A "www.$ONION1.onion")" "^${ADDR1//./\\.}$" \
	"synth" "dig: a name below a mapped onion gets the onion's address (as the library answers)"
check "$DIG" "A other onion" "$(d A "$ONION_UNMAPPED.onion")" "status: NXDOMAIN" \
	"NXDOMAIN" "dig: an onion not in the map: NXDOMAIN (RFC 7686)"
check "$DIG" "AAAA other onion" "$(d AAAA "$ONION_UNMAPPED.onion")" "status: NXDOMAIN" \
	"NXDOMAIN" "dig: ... AAAA too"
check "$DIG" "MX onion" "$(d MX "$ONION1.onion")" "status: NOERROR" \
	"no data" "dig: other types of a mapped onion: no data"
like "$(d MX "$ONION1.onion")" "ANSWER: 0," "dig: ... with no answer record"
out=$(d +short A mapped.example)
like "$out" "^127\.0\.0\.20$" "control: a mapped domain's A resolves normally (typetransparent: its web site works)"
out=$(d +short MX plain.example)
like "$out" "^10 mx\.plain\.example\.$" "control: an unmapped domain resolves normally"

# The other DNS tools, also without the library, through the same unbound.
for tool in host nslookup kdig drill; do
	command -v $tool >/dev/null || { echo "# skip $tool: not installed"; for _ in 1 2 3; do ok 0 "# SKIP $tool not installed"; done; continue; }
	case $tool in
	host) q() { env -u LD_PRELOAD host -W 5 -t "$1" "$2" 127.0.0.1 2>&1; } ;;
	nslookup) q() { env -u LD_PRELOAD nslookup -timeout=5 -type="$1" "$2" 127.0.0.1 2>&1; } ;;
	kdig) q() { env -u LD_PRELOAD kdig +timeout=5 @127.0.0.1 "$1" "$2" 2>&1; } ;;
	drill) q() { env -u LD_PRELOAD drill @127.0.0.1 "$2" "$1" 2>&1; } ;;
	esac
	C="$tool"
	check "$C" "MX mapped" "$(q MX mapped.example)" "10 $ONION1\.onion" \
		"onion" "$tool: a mapped domain's MX is its onion"
	check "$C" "A onion" "$(q A "$ONION1.onion")" "${ADDR1//./\\.}" \
		"synth" "$tool: a mapped onion's A is its synthetic address"
	check "$C" "A other onion" "$(q A "$ONION_UNMAPPED.onion")" "NXDOMAIN" \
		"NXDOMAIN" "$tool: an unmapped onion: NXDOMAIN"
done

GETENT="getent hosts"
# (getent hosts: gethostbyname2, AAAA first; ahosts would use AI_ADDRCONFIG,
# which asks nothing in a namespace with loopback only.)
check "$GETENT" "AAAA onion" "$(env -u LD_PRELOAD getent hosts "$ONION1.onion")" "^::ffff:${ADDR1//./\\.} " \
	"v4map" "getent hosts without the library: the onion's synthetic address, v4-mapped"

# Go: its own resolver, a static binary. Built now, offline, stdlib only.
GO="Go netdns=go (static)"
GOB=$T/golookup
if ! command -v go >/dev/null; then
	echo "# skip Go: golang-go is not installed (tests/deps.sh installs it)"
	for _ in 1 2 3 4 5 6; do ok 0 "# SKIP golang-go not installed"; done
else
	mkdir -p "$T/go" "$B/build/go-cache"
	cp "$TOP/tests/helpers/golookup.go" "$T/go/"
	printf 'module golookup\n\ngo 1.19\n' >"$T/go/go.mod"
	out=$(cd "$T/go" && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOCACHE="$B/build/go-cache" \
		GOPATH="$T/gopath" CGO_ENABLED=0 go build -o "$GOB" . 2>&1)
	ok $? "the Go probe builds offline (stdlib only)"
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/#   /'
	like "$(file -b "$GOB" 2>/dev/null || ldd "$GOB" 2>&1)" "statically linked|not a dynamic executable" \
		"the Go probe is a static binary (no LD_PRELOAD could reach it)"
	g() { env -u LD_PRELOAD GODEBUG=netdns=go "$GOB" "$@" 2>&1; }
	check "$GO" "MX mapped" "$(g mx mapped.example)" "^MX 10 $ONION1\.onion\.$" \
		"onion" "Go: a mapped domain's MX is its onion"
	check "$GO" "MX wildcard" "$(g mx sub.wild.example)" "^MX 10 $ONION2\.onion\.$" \
		"onion" "Go: a wildcard-mapped subdomain's MX is its onion"
	# Go 1.19 asks DNS nothing about .onion (RFC 7686) and returns no address
	# and no error; the upstream check below confirms nothing was asked.
	out=$(g host "$ONION1.onion")
	check "$GO" "A onion" "$out" "^$" \
		"none" "Go: LookupHost of an onion: no address (Go skips .onion itself)"
	check "$GO" "MX unmapped (control)" "$(g mx plain.example)" "^MX 10 mx\.plain\.example\.$" \
		"normal answer" "Go: control: an unmapped domain's MX resolves normally"
fi

# No query about a mapped name or an onion reached the upstream server; other
# names did (the channel works).
q=$(dns_queries)
is "$(printf '%s\n' "$q" | grep -ci 'onion')" 0 "upstream: no query about any onion name"
is "$(printf '%s\n' "$q" | grep -ciE '^MX (mapped\.example|[^ ]*wild\.example)$')" 0 \
	"upstream: no MX query about a mapped domain"
like "$q" "^MX plain\.example$" "upstream control: the unmapped domain's MX was seen"
like "$q" "^A mapped\.example$" "upstream control: the mapped domain's A (not ours) was seen"
leaked=$(printf '%s\n' "$q" | grep -ciE 'onion|^MX (mapped\.example|[^ ]*wild\.example)$')
for r in "${ROWS[@]}"; do
	case $r in
	*"| WRONG"*) emit_row "$r" ;;
	*) [ "$leaked" = 0 ] && emit_row "$r" || emit_row "${r% | *} | LEAK" ;;
	esac
done
ROWS=()

# A map change reaches unbound: the documented step (onionmx-map -u on the
# compiled map, unbound-control reload).
ONION3=$("$H/onion_gen" test-three)
echo "new.example $ONION3.onion" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
out=$(d +short MX new.example)
like "$out" "mx\.mapped\.example" "before the reload: unbound still serves the old map (new.example resolves normally)"
out=$("$MAPTOOL" -u "$INC" "$T/domains.cdb" 2>&1 && unbound-checkconf "$T/unbound.conf" 2>&1 &&
	unbound-control -c "$T/unbound.conf" reload 2>&1)
like "$out" "^ok$" "onionmx-map -u from the compiled map, then unbound-control reload"
check "$DIG" "MX mapped after a map change" "$(d +short MX new.example)" "^10 $ONION3\.onion\.$" \
	"onion" "after the reload: the newly mapped domain's MX is its onion"
check "$DIG" "MX mapped, after another domain was added" "$(d +short MX mapped.example)" "^10 $ONION1\.onion\.$" \
	"onion" "after the reload: the others still answered"
n=$(dns_queries | grep -ci 'onion')
is "$n" 0 "upstream: still no query about any onion"
is "$(dns_queries | grep -ci '^MX new\.example$')" 1 "upstream: new.example's MX asked once, before the map had it (control)"

# What make install puts in place: the units' commands, run on this test's paths.
make -s -C "$TOP" O="$O" install DESTDIR="$T/dest" >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... (the host-wide layer's units included)"
U=$T/dest/etc/systemd/system
cmd=$(sed -n 's/^ExecStart=\(.*onionmx-map .*\)$/\1/p' "$U/onionmx-unbound.service" 2>/dev/null)
like "$cmd" "^/usr/local/sbin/onionmx-map -u /etc/unbound/unbound\.conf\.d/onionmx\.conf /etc/onionmx/domains\.cdb$" \
	"onionmx-unbound.service: onionmx-map -u into unbound.conf.d from the compiled map"
like "$(cat "$U/onionmx-unbound.path" 2>&1)" "^PathChanged=/etc/onionmx/domains\.cdb$" \
	"onionmx-unbound.path: started whenever the compiled map changes"
ONION4=$("$H/onion_gen" test-four)
echo "unit.example $ONION4.onion" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
cmd=${cmd/\/usr\/local\/sbin\//$T/dest/usr/local/sbin/}
cmd=${cmd/\/etc\/unbound\/unbound.conf.d\/onionmx.conf/$INC}
cmd=${cmd/\/etc\/onionmx\/domains.cdb/$T/domains.cdb}
out=$($cmd 2>&1 && unbound-control -c "$T/unbound.conf" reload 2>&1)
like "$out" "^ok$" "the service's onionmx-map command (installed binary), then a reload"
check "$DIG" "MX mapped, include written by the unit's command" "$(d +short MX unit.example)" "^10 $ONION4\.onion\.$" \
	"onion" "after it: the newly mapped domain's MX is its onion"
is "$(dns_queries | grep -ci 'unit\.example')" 0 "upstream: no query about it"

# A damaged map is not written out: the include stays as it was.
cp "$INC" "$T/inc.before"
cp "$T/domains.cdb" "$T/damaged.cdb"
printf 'X' | dd of="$T/damaged.cdb" bs=1 seek=2100 conv=notrunc 2>/dev/null
out=$("$MAPTOOL" -u "$INC" "$T/damaged.cdb" 2>&1)
status=$?
is "$status" 3 "a damaged map: onionmx-map -u exits 3"
like "$out" "damaged" "... saying damaged"
cmp -s "$INC" "$T/inc.before"
ok $? "... and the include is left unchanged"

# The route. A veth pair inside the namespace (its peer has no address and
# nowhere to go), a default route through it, as on a host with a gateway.
ROUTE="any program, the route"
if ip link add omx0 type veth peer name omx1 2>/dev/null; then
	# No IPv6 on them: its router solicitations would count as traffic.
	sysctl -qw net.ipv6.conf.omx0.disable_ipv6=1 net.ipv6.conf.omx1.disable_ipv6=1 2>/dev/null
	ip link set omx0 up && ip link set omx1 up
	ip addr add 192.0.2.1/24 dev omx0
	ip neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 dev omx0 nud permanent
	ip route add default via 192.0.2.2 dev omx0
	tx() { ip -s link show omx0 | awk '/TX:/ { getline; print $2; exit }'; }
	nbconnect() { # the errno of a non-blocking connect to $1 port 25, no library
		env -u LD_PRELOAD python3 -c '
import errno, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setblocking(False)
print(errno.errorcode.get(s.connect_ex((sys.argv[1], 25)), "0"))' "$1"
	}
	before=$(tx)
	out=$(nbconnect "$ADDR1")
	is "$out" EINPROGRESS "control, no route: a connect to a synthetic address is under way (a SYN to the gateway)"
	ok "$([ "$(tx)" -gt "$before" ] && echo 0 || echo 1)" "control, no route: packets left by the default route"
	cmd=$(sed -n 's/^ExecStart=//p' "$U/onionmx-route.service" 2>/dev/null)
	is "$cmd" "/sbin/ip route replace unreachable 240.0.0.0/4" \
		"onionmx-route.service: the map's 240.0.0.0/5 and discovery's 248.0.0.0/8 unreachable"
	${cmd:-false}
	ok $? "the route added by the unit's command"
	before=$(tx)
	out=$(nbconnect "$ADDR1")
	is "$out" EHOSTUNREACH "with the route: a non-blocking connect fails at once, EHOSTUNREACH"
	row "$ROUTE" "connect synth" "$([ "$out" = EHOSTUNREACH ] && echo 0 || echo 1)" \
		"EHOSTUNREACH" "$out"
	out=$(env -u LD_PRELOAD "$H/connect_probe" "$ADDR1" 25 2>&1)
	like "$out" "^connect: EHOSTUNREACH$" "with the route: a blocking connect (C) fails at once too"
	out=$(nbconnect "::ffff:$ADDR1")
	is "$out" EHOSTUNREACH "with the route: the v4-mapped AAAA answer on an AF_INET6 socket fails the same way"
	if [ -x "${GOB:-}" ]; then
		out=$(env -u LD_PRELOAD "$GOB" dial "$ADDR1:25" 2>&1)
		is "$out" "dial: EHOSTUNREACH" "with the route: the static Go program's dial fails at once"
		row "$ROUTE" "connect synth (Go)" "$([ "$out" = "dial: EHOSTUNREACH" ] && echo 0 || echo 1)" \
			"EHOSTUNREACH" "$out"
	else
		ok 0 "# SKIP golang-go not installed"
	fi
	is "$(tx)" "$before" "with the route: not one packet left the host"
	out=$(nbconnect 192.0.2.77)
	is "$out" EINPROGRESS "control: other destinations still go by the default route"
else
	echo "# skip the route checks: this kernel cannot create a veth pair"
	for _ in 1 2 3 4 5 6 7 8 9 10; do ok 0 "# SKIP no veth in this kernel"; done
fi
for r in "${ROWS[@]}"; do emit_row "$r"; done
matrix_readme_check
done_testing
