#!/bin/bash
# Debian's own Exim 4.96 (exim4-daemon-light, stock configuration, debconf
# "internet site") delivers through onionmx with nothing added to its service
# but LD_PRELOAD=libonionmx.so: started as systemd's generated exim4.service
# starts it (/etc/init.d/exim4 start, which runs update-exim4.conf, exim4 -bV
# and exim4 -bd -q30m), in a private namespace (see tests/mta/common.sh). The
# library is installed mode 4755 in /usr/lib/TRIPLET (x86_64-linux-gnu; inside the
# namespace only), as make install does, so every setuid re-exec of exim4
# (each delivery) loads it in secure mode. Onion MX discovery is on (discover =
# srv): d01.example, in no map, gets its mail through its _onion-mx._tcp SRV
# record, and a failing SRV lookup defers.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_enter "$@"
SECONDS=0
mta_private_root || exit 1
start_syslog /dev/log || exit 1
mta_start_dns || exit 1
mta_start_servers || exit 1
mta_install_onionmx || exit 1
mta_discovery || exit 1
MAINLOG=/var/log/exim4/mainlog

# The host's Exim state stays out; debconf "internet site".
mta_exim_prepare

exim_log() { cat "$MAINLOG" 2>/dev/null; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter Exim "$MAINLOG" ' \*\* ' "LD_PRELOAD=libonionmx.so exim4 -qff"
mta_deferred_re() { echo "== user@$1\.example"; }
mta_flush() { LD_PRELOAD=libonionmx.so /usr/sbin/exim4 -qff >/dev/null 2>&1; }
queue_count() { /usr/sbin/exim4 -bpc 2>/dev/null; }

out=$(mta_exim_start 2>&1)
ok $? "/etc/init.d/exim4 start with LD_PRELOAD=libonionmx.so (as exim4.service runs it)"
unlike "$out" "onionmx|cannot be preloaded" "start-up is silent about the library (update-exim4.conf, exim4 -bV)"
wait_for 10 test -s /run/exim4/exim.pid
DAEMON=$(cat /run/exim4/exim.pid 2>/dev/null)
grep -q libonionmx "/proc/$DAEMON/maps" 2>/dev/null
ok $? "the daemon (exim4 -bd -q30m, pid $DAEMON) has the library loaded"
like "$(tr '\0' '\n' <"/proc/$DAEMON/environ" 2>/dev/null)" "^LD_PRELOAD=libonionmx\.so$" \
	"and nothing but the bare name in LD_PRELOAD (ONIONMX_CONF: the built-in path)"

# --- Delivery: mapped domains to the onion, unmapped ones straight to their MX.
scenario_first_delivery
like "$(exim_log)" "=> user@m01\.example R=dnslookup T=remote_smtp H=$ONION_M01\.onion \[(::ffff:)?2(4[0-9]|5[0-5])\." \
	"Exim's log: delivered to the onion MX at its synthetic address"
like "$(exim_log)" "=> user@u01\.example R=dnslookup T=remote_smtp H=mx\.direct\.example \[198\.18\.0\.30\]" \
	"Exim's log: the unmapped domain went to its own MX"
like "$(grep 'onionmx:' "$SYSLOG")" "exim4: onionmx: connected to $ONION_M01\.onion port 25 \(MX of m01\.example[ )]" \
	"the library's line (syslog, facility mail) names domain and onion"
# Exim's deliveries (setuid re-execs of exim4, as root) counted into the shared statistics.
scenario_first_stats
grep 'onionmx:' "$SYSLOG" | grep '^<' | grep -vq '^<2[0-3]>'
ok $((!$?)) "every library line went to facility mail"

# --- TCP Fast Open: Exim's default is sendto(MSG_FASTOPEN) instead of connect().
# strace sees system calls, so what the library does, not what Exim asked of it:
# to the unmapped domain's MX Exim's own TFO sendto shows; towards the onion no
# system call names the synthetic address (the kernel would refuse it: the
# route is unreachable), the library's SOCKS connection to 127.0.0.1:9050 does.
tfo_round() { # tfo_round VALUE N: one mapped and one unmapped delivery, traced
	local value=$1 n=$2 before_o before_d st trace
	sysctl -qw net.ipv4.tcp_fastopen="$value"
	before_o=$(sink_count onion)
	before_d=$(sink_count direct)
	strace -f -qq -e trace=sendto,sendmsg,connect -o "$T/tfo$value.strace" -p "$DAEMON" 2>/dev/null &
	st=$!
	wait_for 5 grep -q "^TracerPid:[[:space:]]*$st$" "/proc/$DAEMON/status"
	printf '%s\n' "user@m$n.example tfo-$value-m" "user@u$n.example tfo-$value-u" >"$T/tfo$value"
	submit "$T/tfo$value" >/dev/null
	wait_for 20 count_at_least onion $((before_o + 1))
	wait_for 10 count_at_least direct $((before_d + 1))
	is "$(sink_count onion)" $((before_o + 1)) "tcp_fastopen=$value: mail for m$n.example arrived at the onion sink"
	is "$(sink_count direct)" $((before_d + 1)) "tcp_fastopen=$value: mail for u$n.example arrived at its MX"
	sleep 0.3 # the delivery process writes its last lines after the sink has the mail
	kill "$st" 2>/dev/null
	wait "$st" 2>/dev/null
	trace=$(cat "$T/tfo$value.strace")
	printf '%s\n' "$trace" | grep -E 'MSG_FASTOPEN|htons\((25|9050)\)' | sed "s/^/# tcp_fastopen=$value: /"
	if [ "$value" = 1 ]; then
		like "$trace" 'sendto\([0-9]+, NULL, 0, MSG_DONTWAIT\|MSG_FASTOPEN, \{sa_family=AF_INET, sin_port=htons\(25\), sin_addr=inet_addr\("198\.18\.0\.30"\)\}, 16\) = (0|-1 EINPROGRESS)' \
			"tcp_fastopen=1: Exim connects with sendto(MSG_FASTOPEN) (to the unmapped MX, in the kernel)"
	else
		like "$trace" 'sendto\([0-9]+, NULL, 0, MSG_DONTWAIT\|MSG_FASTOPEN, \{sa_family=AF_INET, sin_port=htons\(25\), sin_addr=inet_addr\("198\.18\.0\.30"\)\}, 16\) = -1 EOPNOTSUPP' \
			"tcp_fastopen=0: the kernel answers Exim's sendto(MSG_FASTOPEN) EOPNOTSUPP (unmapped MX)"
		like "$trace" 'connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\(25\), sin_addr=inet_addr\("198\.18\.0\.30"\)\}, 16\) = 0' \
			"tcp_fastopen=0: and Exim falls back to connect()"
	fi
	unlike "$trace" '(inet_addr\("|"::ffff:)2(4[0-9]|5[0-5])\.' "tcp_fastopen=$value: no system call went to a synthetic address"
	# (Exim takes the onion's IPv4-mapped AAAA first: an AF_INET6 socket, which
	# reaches the SOCKS port at ::ffff:127.0.0.1.)
	# (The library dials Tor by sendto(MSG_FASTOPEN) while the kernel allows
	# it, by connect() when not: tor.c, dial_fastopen.)
	like "$trace" '(connect|sendto)\([0-9]+, (".*", [0-9]+, MSG_DONTWAIT\|MSG_NOSIGNAL\|MSG_FASTOPEN, )?\{sa_family=AF_INET6?, sin6?_port=htons\(9050\), .*"(::ffff:)?127\.0\.0\.1"' \
		"tcp_fastopen=$value: the onion delivery went to the SOCKS port instead"
}
is "$(cat /proc/sys/net/ipv4/tcp_fastopen)" 1 "net.ipv4.tcp_fastopen is 1 (the default) in the namespace"
tfo_round 1 02
tfo_round 0 03
sysctl -qw net.ipv4.tcp_fastopen=1

# --- The library in the delivering process: the setuid re-exec of exim4. The
# SOCKS server holds the handshake, so the delivery can be looked at.
stop_socks
start_socks hang || exit 1
echo "user@m04.example held-1" >"$T/held"
submit "$T/held" >/dev/null
find_held() { # the process connected to the SOCKS port
	HELD=$(ss -tnpH state established dst 127.0.0.1:9050 | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
	[ -n "$HELD" ]
}
HELD=
wait_for 8 find_held
ok $? "a delivery process is in the SOCKS handshake for m04.example's onion"
if [ -n "$HELD" ]; then
	cmd=$(tr '\0' ' ' <"/proc/$HELD/cmdline")
	like "$cmd" "^/usr/sbin/exim4 .*-M" "it is a re-executed /usr/sbin/exim4 ($cmd)"
	like "$(grep libonionmx "/proc/$HELD/maps")" " $MTA_LIBDIR/libonionmx\.so$" \
		"/proc/$HELD/maps: libonionmx.so from $MTA_LIBDIR is loaded in it"
	secure=$(od -An -v -t u8 -w16 "/proc/$HELD/auxv" | awk '$1 == 23 { print $2 }')
	is "$secure" 1 "its auxv has AT_SECURE=1: ld.so ran it in secure mode (setuid exec)"
fi

# --- Tor down: every message deferred with the library's cause, none bounced
# (m04's, held above, and four more).
stop_socks
wait_for 15 log_count_at_least "== user@m04\.example" 1
scenario_tor_down "m04 m05 m06 m07 m08" "m05 m06 m07 m08"
like "$(exim_log)" "== user@m05\.example R=dnslookup T=remote_smtp defer \(100\): Network is down" \
	"the deferral's cause: connection refused"
like "$(grep 'onionmx:' "$SYSLOG")" "cannot connect to $(onion_of m04.example)\.onion port 25 \(MX of m04\.example[^)]*\) via Tor .*(closed|reset|timed out)" \
	"and for the held delivery, that Tor dropped the handshake"

# --- Tor back, a forced queue run under the library: everything delivered.
scenario_tor_back "m04 m05 m06 m07 m08"

# --- A map change while Exim runs reaches the next delivery.
scenario_map_rebuilt moved.example before

# --- Onion MX discovery (discover = srv since the start): d01.example is in no
# map, publishes its onion in _onion-mx._tcp SRV (port 2525) and keeps a
# clearnet MX, the trap one. Each delivery is a new setuid exim4: the SRV
# answer and the onion's synthetic address must come from the shared cache.
scenario_discovery_first
wait_for 5 log_count_at_least "=> user@d01\.example " 1
line=$(grep -E "=> user@d01\.example " "$MAINLOG" | head -1)
like "$line" "=> user@d01\.example R=dnslookup T=remote_smtp H=$ONION_D01\.onion \[(::ffff:)?248\.[0-9.]+\]" \
	"Exim's log: delivered to the discovered onion at its address in 248.0.0.0/8"
addr=$(printf '%s\n' "$line" | sed -n 's/.* H=[a-z2-7]*\.onion \[\(::ffff:\)\{0,1\}\([0-9.]*\)\].*/\2/p')
like "$(grep 'onionmx:' "$SYSLOG")" "exim4: onionmx: discovered onion MX for d01\.example: $ONION_D01\.onion " \
	"the library logged the discovery"
scenario_discovery_cache "$addr"
# A second message, delivered by another re-executed exim4: no second SRV
# query, no second discovery - the answer came from the file.
scenario_discovery_second
wait_for 5 log_count_at_least "=> user@d01\.example " 2
like "$(grep -E "=> user@d01\.example " "$MAINLOG" | sed -n 2p)" "H=$ONION_D01\.onion \[(::ffff:)?$addr\]" \
	"Exim's log: at the same synthetic address"
is "$(grep -c 'onionmx: discovered onion MX for d01\.example' "$SYSLOG")" 1 "and the discovery was logged once"

# --- The SRV lookup fails (servfail.example's server answers SERVFAIL): the
# message is deferred, never sent to the domain's clearnet MX, never bounced.
scenario_srv_fail
line=$(grep -E "== user@servfail\.example" "$MAINLOG" | head -1)
like "$line" "== user@servfail\.example R=dnslookup defer \(-1\): host lookup did not complete" \
	"SRV lookup failing: Exim deferred the message (host lookup did not complete)"
id=$(printf '%s\n' "$line" | awk '{ print $3 }')
like "$(/usr/sbin/exim4 -bp 2>/dev/null | grep -A1 -- " $id ")" "^ +user@servfail\.example$" "exim4 -bp: the message ($id) is on the queue, for user@servfail.example"
is "$(queue_count)" 1 "exim4 -bpc: one message"
/usr/sbin/exim4 -Mrm "$id" >/dev/null 2>&1
is "$(queue_count)" 0 "(exim4 -Mrm $id: the queue is empty again)"

# --- 500 messages: 5 to each of 50 mapped and 50 unmapped domains.
scenario_exactly_once 10 5 "$(seq -f 'm%02g' 1 50)" "$(seq -f 'u%02g' 1 50)"

# --- An unprivileged user and the setuid-installed library: their config and
# map are never read. As nobody, with their own ONIONMX_CONF naming their own
# map (mapped.example -> an onion of theirs), through the setuid exim4.
their_config
out=$(as_nobody "$T/nobody.strace" /usr/sbin/exim4 -bt user@mapped.example)
like "$out" "host $ONION1\.onion \[2" "nobody: exim4 -bt routes mapped.example to the system map's onion"
unlike "$out" "$EVIL" "not to the onion of their map"
unlike "$(cat "$T/nobody.strace")" "theirs" "strace: the setuid exim4 never touched their config or map"
like "$(cat "$T/nobody.strace")" 'open.*"/etc/onionmx/onionmx\.conf"' "it read /etc/onionmx/onionmx.conf instead"
out=$(as_nobody "$T/nobody-bV.strace" /usr/sbin/exim4 -bV)
unlike "$(cat "$T/nobody-bV.strace")" "theirs" "exim4 -bV as nobody: their files not touched either"
# Control: a program that is not setuid honours ONIONMX_CONF, so the checks above can see it.
cp /usr/sbin/exim4 "$T/exim4-not-setuid"
chmod 755 "$T/exim4-not-setuid"
out=$(as_nobody "$T/control.strace" "$T/exim4-not-setuid" -bt user@mapped.example)
like "$(cat "$T/control.strace")" "open.*\"$T/theirs\.conf\"" \
	"control: without setuid, the library does read \$ONIONMX_CONF (so the strace test can fail)"
like "$out" "$EVIL" "control: and then routes by their map"

# --- A manual queue run from a root shell, with no LD_PRELOAD at all (issue:
# "exim4 -qff" would route by the clearnet MX). The /etc/ld.so.preload install,
# with "programs" naming Exim, closes that: the library acts in exim4 however it
# was started, and stays inert elsewhere.
stop_socks
echo "user@m09.example manual-run" >"$T/manual"
submit "$T/manual" >/dev/null
wait_for 20 log_count_at_least "== user@m09\.example" 1
is "$(log_count '== user@m09\.example')" 1 "Tor down: the message for m09.example is deferred"
start_socks relay -r 127.0.0.40:25 || exit 1
cp /etc/onionmx/onionmx.conf "$T/onionmx.conf.saved"
echo "programs = /usr/sbin/exim4" >>/etc/onionmx/onionmx.conf
echo "$MTA_LIBDIR/libonionmx.so" >/etc/ld.so.preload
before_onion=$(sink_count onion)
out=$(env -i PATH="$MTA_PATH" /usr/sbin/exim4 -qff 2>&1)
ok $? "env -i exim4 -qff from a root shell, no LD_PRELOAD, with /etc/ld.so.preload"
wait_for 20 count_at_least onion $((before_onion + 1))
is "$(sink_count onion)" $((before_onion + 1)) "the manual queue run delivered m09.example's message to the onion"
like "$(exim_log)" "=> user@m09\.example R=dnslookup T=remote_smtp H=$(onion_of m09.example)\.onion" \
	"Exim's log: to the onion MX, not the clearnet one"
out=$(env -i PATH="$MTA_PATH" sh -c 'grep -q libonionmx /proc/self/maps && echo loaded' 2>&1)
is "$out" loaded "(every program loads it from /etc/ld.so.preload; tests/integ/preload.sh shows the rest stay inert)"
rm -f /etc/ld.so.preload
cp "$T/onionmx.conf.saved" /etc/onionmx/onionmx.conf

# --- What must never happen, over the whole run.
scenario_never
is "$(cat /var/log/exim4/paniclog 2>/dev/null)" "" "Exim's paniclog is empty"
grep 'onionmx:' "$SYSLOG" | grep -vE 'onionmx: (connected to|cannot connect to|loaded rebuilt map|discovered onion MX for d01\.example:|_onion-mx\._tcp\.servfail\.example SRV lookup failed)' >"$T/other"
is "$(cat "$T/other")" "" "the library logged nothing but connections, the map's reload and the two discovery results"
# One map rebuild, and Exim's daemon never looks at the map itself: each SMTP
# session it forks afterwards inherits the old map, reloads it and says so.
reloads=$(grep -c 'onionmx: loaded rebuilt map' "$SYSLOG")
[ "$reloads" -le 3 ]
ok $? "one map rebuild is logged a few times at most, not by every SMTP session forked after it ($reloads lines)"

# Control: without the library Exim would route mapped.example to the clearnet MX.
out=$(/usr/sbin/exim4 -bt user@m01.example 2>&1)
like "$out" "host mx\.mapped\.example \[198\.18\.0\.20\]" \
	"control: without onionmx, exim4 -bt routes m01.example to its clearnet MX"
echo "# exim.sh took $SECONDS s"
done_testing
