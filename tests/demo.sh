#!/bin/bash
# make demo: one message, delivered by a real MTA through onionmx and real Tor to
# an onion MX, shown as a mail operator would check it. Everything runs in the
# private namespace of tests/mta/common.sh (network: loopback only; mount:
# overlays over /etc, /usr, /var, /run, /dev; PID: every process in it ends
# with this script), so nothing stays running and nothing outside changes:
#
#   - a private Tor network on loopback (tests/tornet.sh): an authority, three
#     relays, an onion service whose port 25 is an SMTP sink (the onion MX of
#     mapped.example), and the client tor onionmx talks to (127.0.0.1:9050);
#   - a DNS server giving mapped.example a clearnet MX, which is an SMTP sink
#     that must stay empty;
#   - onionmx installed by "make install", its map: mapped.example -> the onion;
#   - Debian's Postfix (the default) or Exim (DEMO_MTA=exim), started as their
#     service units start them, with LD_PRELOAD=libonionmx.so added.
#
# A message to user@mapped.example is submitted to the MTA over SMTP. Exits 0
# only if the MTA reports it delivered, it is at the onion MX, the clearnet MX
# saw no connection and the DNS server no query about the domain or the onion.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/tornet.sh"
. "$TOP/tests/mta/common.sh"

MTA=${DEMO_MTA:-postfix}
case $MTA in
postfix | exim) ;;
*) echo "make demo: DEMO_MTA must be postfix or exim" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "make demo: run it as root (it uses private namespaces)" >&2
	exit 1
fi
if [ "$MTA" = postfix ] && [ -z "$(mta_postfix_deb)" ]; then
	echo "make demo: no postfix .deb in ${POSTFIX_DEB_DIR:-/var/cache/onionmx}: run sh tests/deps.sh" >&2
	exit 1
fi
mta_enter "$@"
trap 'exit 130' INT TERM
SECONDS=0

if [ -t 1 ]; then B1=$'\033[1m' B0=$'\033[0m'; else B1='' B0=''; fi
section() { printf '\n%s== %s%s\n' "$B1" "$*" "$B0"; }
say() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }
# wrap: log lines as they are, wrapped at word boundaries, continued further in.
wrap() {
	awk '{
		n = split($0, w, " "); out = "      "; len = 6
		for (i = 1; i <= n; i++) {
			if (i > 1 && len + 1 + length(w[i]) > 104) { print out; out = "          " w[i]; len = 10 + length(w[i]); continue }
			out = out (i > 1 ? " " : "") w[i]; len += (i > 1) + length(w[i])
		}
		print out
	}'
}
row() { printf '    %-48s %s\n' "$1" "$2"; } # a summary line
fail() { say "FAILED: $*"; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
secs() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); } # secs MILLISECONDS
# Tor's progress, as it comes: "  12s  what happened".
tornet_say() { printf '    %3ss  %s\n' "$(tornet_elapsed)" "$*"; }

case $MTA in
postfix) MTA_NAME="Postfix $(dpkg-deb -f "$(mta_postfix_deb)" Version | sed 's/-.*//')" ;;
exim) MTA_NAME="Exim $(dpkg-query -W -f '${Version}' exim4-daemon-light | sed 's/-.*//')" ;;
esac
echo "${B1}onionmx demo: $MTA_NAME delivers a message to an onion MX over Tor${B0}"
say "in a private namespace: loopback-only network, overlays over /etc /usr /var;"
say "nothing outside changes and nothing stays running (make demo DEMO_MTA=exim: with Exim)"

# --- The namespace's servers, then Tor (its progress lines come as they happen).
if [ "$MTA" = postfix ]; then
	mta_postfix_prepare "$(mta_postfix_deb)" >"$T/prepare.out" 2>&1 ||
		{ indent <"$T/prepare.out"; fail "Postfix could not be unpacked and set up"; }
	start_syslog /dev/log /var/spool/postfix/dev/log || fail "no syslog receiver"
else
	mta_private_root || fail "no private root"
	mta_exim_prepare
	start_syslog /dev/log || fail "no syslog receiver"
fi
mta_start_dns >/dev/null || fail "dnsmasq did not start"
mta_start_tor_sinks || fail "the SMTP sinks did not start"

section "A private Tor network on loopback: authority, 3 relays, onion service, client"
tornet_start || fail "the private Tor network did not come up (tor logs above)"
say "onion MX of mapped.example: $TOR_ONION1.onion"
say "(its port 25 is an SMTP sink on 127.0.0.40:25; the client's SOCKS port is 127.0.0.1:9050)"

# --- onionmx and the MTA, as the README's set-up steps do them.
section "The sending host: onionmx installed, $MTA_NAME started with LD_PRELOAD=libonionmx.so"
mta_install_onionmx || fail "make install failed"
mta_map_tor || fail "the map could not be compiled"
say "make install: $(stat -c '%A' "$MTA_LIBDIR/libonionmx.so") $MTA_LIBDIR/libonionmx.so"
say "/etc/onionmx/domains:  $(grep -v '^#' /etc/onionmx/domains)"
say "onionmx-map -q mapped.example /etc/onionmx/domains.cdb:"
"$MAPTOOL" -q mapped.example /etc/onionmx/domains.cdb | sed 's/^/      /'
say "$(onionmx -t 2>&1 | head -1)"
if [ "$MTA" = postfix ]; then
	mta_postfix_start >"$T/start.out" 2>&1 || { indent <"$T/start.out"; fail "Postfix did not start"; }
	wait_for 10 test -s /var/spool/postfix/pid/master.pid
	pid=$(awk '{ print $1; exit }' /var/spool/postfix/pid/master.pid 2>/dev/null)
	what="postfix@-.service's commands: configure-instance.sh -, postmulti -i - -p start"
	proc="master"
else
	mta_exim_start >"$T/start.out" 2>&1 || { indent <"$T/start.out"; fail "Exim did not start"; }
	wait_for 10 test -s /run/exim4/exim.pid
	pid=$(cat /run/exim4/exim.pid 2>/dev/null)
	what="exim4.service's command: /etc/init.d/exim4 start"
	proc="daemon"
fi
grep -q libonionmx "/proc/$pid/maps" 2>/dev/null || fail "the MTA (pid $pid) did not load the library"
say "$MTA_NAME started ($what)"
say "its $proc (pid $pid) has libonionmx.so loaded"

# --- What the MTA's resolver answers, without and with the library.
section "The MX the MTA sees for mapped.example"
mx_plain=$("$H/resolv_probe" nsearch mapped.example MX | sed -n 's/^answer MX \([0-9]*\) \([^ ]*\) .*/MX \1 \2/p')
a_plain=$(getent ahostsv4 mx.mapped.example | awk '{ print $1 }' | sort -u | tr '\n' ' ')
say "without onionmx:  $mx_plain -> ${a_plain% }   (from DNS: the clearnet MX)"
dns_mark=$(wc -l <"$T/dns.log") # from here on DNS must hear nothing about them
mx_omx=$(LD_PRELOAD=libonionmx.so "$H/resolv_probe" nsearch mapped.example MX |
	sed -n 's/^answer MX \([0-9]*\) \([^ ]*\) .*/MX \1 \2/p')
a_omx=$(LD_PRELOAD=libonionmx.so getent ahostsv4 "$TOR_ONION1.onion" | awk '{ print $1; exit }')
say "with onionmx:     $mx_omx -> $a_omx"
say "                  (answered inside the process from the map; the address is"
say "                  synthetic: connect() to it goes to Tor's SOCKS port instead)"

# --- The delivery.
section "Delivery: a message to user@mapped.example, submitted to $MTA_NAME on 127.0.0.1:25"
tornet_events "$T/events" STREAM CIRC || fail "no events from the client tor's control port"
t0=$(date +%s%N)
swaks --server 127.0.0.1:25 --from operator@bounces.example --to user@mapped.example \
	--helo client.example --header "Subject: hello over Tor" \
	--body "This message went to an onion MX through onionmx and Tor." >"$T/swaks.out" 2>&1 ||
	{ indent <"$T/swaks.out"; fail "$MTA_NAME did not accept the message"; }
for _ in $(seq 1200); do # up to 60 s
	[ "$(sink_count onion)" -ge 1 ] && break
	sleep 0.05
done
arrival_ms=$(ms_since "$t0")
arrived=$(sink_count onion)
if [ "$MTA" = postfix ]; then
	result_re='to=<user@mapped\.example>.* status='
	wait_for 15 grep -q "$result_re" "$SYSLOG"
	qid=$(grep "$result_re" "$SYSLOG" | sed -n 's/.*postfix\/[a-z]*\[[0-9]*\]: \([0-9A-F]*\): to=.*/\1/p' | head -1)
	mta_lines=$(grep " postfix/" "$SYSLOG" | grep -v 'onionmx:' | grep -F "${qid:-none}: ")
	delivered=$(grep "$result_re" "$SYSLOG" | grep -c 'status=sent')
	logname="the mail log, through syslog"
else
	result_re='(=>|==|\*\*) user@mapped\.example'
	wait_for 15 grep -qE "$result_re" /var/log/exim4/mainlog
	qid=$(grep -E "$result_re" /var/log/exim4/mainlog | awk '{ print $3; exit }')
	mta_lines=$(grep -F " ${qid:-none} " /var/log/exim4/mainlog)
	delivered=$(grep -cE '=> user@mapped\.example' /var/log/exim4/mainlog)
	logname="/var/log/exim4/mainlog"
fi
sleep 0.3 # the last log lines and Tor's CLOSED events
tornet_events_stop
say "$MTA_NAME's lines about the message ($logname):"
printf '%s\n' "$mta_lines" | sed -E 's/^<[0-9]+>//; s/^[A-Z][a-z]{2} [ 0-9]{2} //; s/^[0-9]{4}-[0-9]{2}-[0-9]{2} //' | wrap
omx_line=$(grep 'onionmx:' "$SYSLOG" | sed -E 's/^<[0-9]+>//; s/^[A-Z][a-z]{2} [ 0-9]{2} //')
say "onionmx's line (syslog, facility mail, from the MTA's delivery process):"
printf '%s\n' "${omx_line:-(none)}" | wrap

# --- Tor's side, from its control port events.
section "What Tor was asked, and the circuits it used (the client tor's control port)"
tr -d '\r' <"$T/events" | awk -v onion="$TOR_ONION1" '
function val(name,   i, v) {
	for (i = 1; i <= NF; i++)
		if (index($i, name "=") == 1) { v = substr($i, length(name) + 2); gsub(/"/, "", v); return v }
	return ""
}
function path(p,   n, a, i, out) {
	n = split(p, a, ",")
	for (i = 1; i <= n; i++) { sub(/^.*~/, "", a[i]); out = out (i > 1 ? " > " : "") a[i] }
	return out
}
$1 == "650" && $2 == "STREAM" && $6 == onion ".onion:25" {
	id = $3
	if (!(id in seen)) { seen[id] = 1; order[++n] = id }
	if ($4 == "NEW") { src[id] = val("SOURCE_ADDR"); user[id] = val("SOCKS_USERNAME"); pass[id] = val("SOCKS_PASSWORD") }
	st = $4
	if ($5 != "0" && $4 == "SENTCONNECT") { st = st " (circuit " $5 ")"; circ[id] = $5 }
	if (val("REASON") != "") st = st " (" val("REASON") ")"
	states[id] = states[id] (states[id] == "" ? "" : " > ") st
}
$1 == "650" && $2 == "CIRC" {
	c = $3
	if (val("REND_QUERY") == onion) ours[c] = 1
	if (val("PURPOSE") != "") purpose[c] = val("PURPOSE")
	if ($4 == "BUILT" || $4 == "EXTENDED") hops[c] = path($5)
	if (($4 == "LAUNCHED" || $4 == "BUILT" || $4 == "FAILED" || $4 == "CLOSED") && $4 != last[c]) {
		cst[c] = cst[c] (cst[c] == "" ? "" : " > ") $4
		last[c] = $4
	}
	if (!(c in cseen)) { cseen[c] = 1; corder[++m] = c }
}
END {
	name["HS_CLIENT_REND"] = "rendezvous with the onion service"
	name["HS_CLIENT_INTRO"] = "introduction to the onion service"
	name["HS_CLIENT_HSDIR"] = "onion service descriptor fetch"
	name["CIRCUIT_PADDING"] = "introduction to the onion service"
	for (i = 1; i <= n; i++) {
		id = order[i]
		printf "    stream %s from %s: SOCKS5 CONNECT to the onion by name, port 25\n", id, src[id]
		printf "      username \"%s\"\n", user[id]
		printf "      password \"%s\"   (per-onion credentials: each onion gets its own circuits)\n", pass[id]
		printf "      %s\n", states[id]
	}
	if (n == 0) print "    no stream to the onion was seen"
	for (j = 1; j <= m; j++) {
		c = corder[j]
		if (!ours[c]) continue
		p = purpose[c] in name ? name[purpose[c]] : purpose[c]
		printf "    circuit %s, %s: %s   (%s)\n", c, p, hops[c], cst[c]
	}
	for (i = 1; i <= n; i++)
		if (circ[order[i]] != "" && !(circ[order[i]] in cseen))
			printf "    circuit %s: built before this delivery\n", circ[order[i]]
}'

# --- The onion MX's side.
section "The message as the onion MX received it (the sink behind the onion service)"
f=$(ls "$T"/onion/*.eml 2>/dev/null | head -1)
if [ -n "$f" ]; then
	tr -d '\r' <"$f" | awk '{ l[NR] = $0 } END { n = NR; while (n > 0 && l[n] == "") n--; for (i = 1; i <= n; i++) print l[i] }' |
		indent
else
	say "(nothing arrived)"
fi

# --- Summary.
dns_new=$(tail -n +"$((dns_mark + 1))" "$T/dns.log" | sed -n 's/.*query\[\([A-Z0-9]*\)\] \([^ ]*\) from.*/\1 \2/p')
dns_ours=$(printf '%s\n' "$dns_new" | grep -ciE ' (mapped\.example|[a-z2-7]{56}\.onion|[0-9.]+\.2(4[0-9]|5[0-5])\.in-addr\.arpa)$')
dns_all=$(printf '%s\n' "$dns_new" | grep -c .)
clearnet=$(($(sink_connections clearnet) + $(sink_connections clearnet2)))
handshake=$(printf '%s\n' "$omx_line" | sed -n 's/.* in \([0-9.]*s\)$/\1/p' | head -1)
section "Summary"
row "$MTA_NAME logged the message as delivered:" "$([ "$delivered" -ge 1 ] && echo yes || echo NO)"
row "messages at the onion MX (through Tor):" "$arrived"
row "connections to mapped.example's clearnet MX:" "$clearnet"
row "DNS queries about mapped.example or the onion:" "$dns_ours   (the DNS server got $dns_all in all meanwhile)"
row "from submission to arrival at the onion MX:" "$(secs "$arrival_ms")   (of which Tor's SOCKS handshake: ${handshake:-?})"
row "time for the private Tor network to come up:" "${TORNET_READY} s"
row "time for the whole demo:" "$SECONDS s"
if [ "$delivered" -ge 1 ] && [ "$arrived" = 1 ] && [ "$clearnet" = 0 ] && [ "$dns_ours" = 0 ]; then
	echo
	echo "${B1}Delivered to the onion MX over Tor; nothing went to the clearnet MX or to DNS.${B0}"
	exit 0
fi
echo
echo "${B1}The demo delivery did NOT go as it should (see above).${B0}"
exit 1
