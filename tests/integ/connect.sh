#!/bin/bash
# connect() to an onion's synthetic address goes through the SOCKS server, which
# is asked for the onion by name; blocking, non-blocking (Postfix), v4-mapped
# IPv6 sockets and TCP Fast Open (Exim) all work; every SOCKS failure maps to an
# errno and a named cause; nothing ever reaches the clearnet MX.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
OMX_TIMEOUT=2
start_dns || exit 1
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_sink onion2525 127.0.0.41:2525 || exit 1
start_sink clearnet 127.0.0.20:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
ADDR1=$("$MAPTOOL" -q "$ONION1.onion" "$T/domains.cdb" | sed -n 's/.*address \([0-9.]*\)).*/\1/p')

out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ok" "blocking connect to the onion succeeds"
like "$out" "^banner: 220 onion " "and reads the onion sink's banner through the SOCKS server"
like "$out" "^errno preserved: yes" "a successful connect leaves errno as it was"
like "$out" "^flags unchanged: yes" "the socket's status flags after connect() are what they were before"
like "$out" "^peer: $ADDR1 port 25" "getpeername reports the synthetic address, not Tor's"
like "$out" "^flags nonblock: no" "the socket is blocking again afterwards"
like "$(cat "$T/socks.log")" "CONNECT host=$ONION1\.onion port=25 atyp=3 user=$ONION1\.onion pass=onionmx" \
	"the SOCKS request names the onion (address type 3) with an isolation username"
like "$(cat "$T/stderr")" "onionmx: connected to $ONION1\.onion port 25 \(MX of mapped\.example\) .* in [0-9.]+s" \
	"one log line with onion, port, domain and time"

out=$(shim "$H/connect_probe" -n "$ONION1.onion" 25)
like "$out" "^connect: ok" "non-blocking connect + poll + SO_ERROR (Postfix's way) succeeds"
like "$out" "^flags nonblock: no" "(the probe made it blocking again itself)"
like "$out" "^banner: 220 onion " "non-blocking: banner read"

# The dial to Tor leaves the caller's status flags alone (issue 15): with TCP
# Fast Open on (the kernel's default) it connects by sendto(MSG_FASTOPEN |
# MSG_DONTWAIT), a non-blocking connect without O_NONBLOCK; with it off, by
# connect() on the socket made non-blocking meanwhile, its flags restored.
dial_traced() { # dial_traced TCP_FASTOPEN [PROBE-OPTIONS]: the probe under strace
	local value=$1
	shift
	sysctl -qw net.ipv4.tcp_fastopen="$value"
	strace -f -qq -e trace=fcntl,connect,sendto -E LD_PRELOAD="$PRELOAD" -o "$T/dial$value.strace" \
		"$H/connect_probe" "$@" "$ONION1.onion" 25 2>/dev/null
	sysctl -qw net.ipv4.tcp_fastopen=1
}
if command -v strace >/dev/null; then
	is "$(cat /proc/sys/net/ipv4/tcp_fastopen)" 1 "net.ipv4.tcp_fastopen is 1 (the default) in the namespace"
	for nb in "" -n; do
		what=${nb:+non-blocking}
		what=${what:-blocking}
		out=$(dial_traced 1 $nb)
		like "$out" "^flags unchanged: yes" "$what socket, TCP Fast Open on: connected, its flags as they were"
		[ -n "$nb" ] && like "$out" "^connect: returned 0 at once" \
			"non-blocking socket: connect() returns 0, the handshake done inside it (as before)"
		trace=$(cat "$T/dial1.strace")
		like "$trace" 'sendto\([0-9]+, "\\5\\1\\2\\1>[a-z2-7]+"\.\.\., 144, MSG_DONTWAIT\|MSG_NOSIGNAL\|MSG_FASTOPEN, \{sa_family=AF_INET, sin_port=htons\(9050\)' \
			"$what socket: the whole request (greeting, credentials, CONNECT) goes to the SOCKS port with the call that completes the connection"
		# (The non-blocking probe sets O_NONBLOCK itself, and clears it at the end.)
		is "$(grep -c F_SETFL "$T/dial1.strace")" "$([ -n "$nb" ] && echo 2 || echo 0)" \
			"$what socket, TCP Fast Open on: no fcntl(F_SETFL) of the library's"
		unlike "$trace" 'connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\(9050\)' "$what socket: no connect() to the SOCKS port"
		out=$(dial_traced 0 $nb)
		like "$out" "^banner: 220 onion " "$what socket, TCP Fast Open off: connected by connect()"
		like "$out" "^flags unchanged: yes" "$what socket, TCP Fast Open off: its flags as they were"
		trace=$(cat "$T/dial0.strace")
		like "$trace" 'MSG_FASTOPEN.* = -1 EOPNOTSUPP' "TCP Fast Open off: the kernel says so"
		like "$trace" 'connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\(9050\)' "TCP Fast Open off: connect() to the SOCKS port"
		if [ -z "$nb" ]; then
			is "$(grep -Ec 'F_SETFL, O_RDWR(\|O_NONBLOCK)?\)' "$T/dial0.strace")" 2 \
				"(control: fcntl calls are seen: the blocking socket made non-blocking for connect(), then restored)"
		else
			is "$(grep -c F_SETFL "$T/dial0.strace")" 2 \
				"TCP Fast Open off, non-blocking socket: no F_SETFL of the library's (the probe's own two)"
		fi
	done
else
	ok 0 "# SKIP strace not installed: the dial's system calls are not checked"
fi

out=$(shim "$H/connect_probe" -6 "$ONION1.onion" 25)
like "$out" "^connect: ok" "AF_INET6 socket to the v4-mapped synthetic address succeeds"
like "$out" "^banner: 220 onion " "v4-mapped: banner read"

out=$(shim "$H/connect_probe" -q "$ONION1.onion" 25)
like "$out" "^after shutdown: 221 " "QUIT then shutdown(SHUT_WR), as Exim ends a session: the reply still arrives (Tor has no half-close)"
out=$(shim "$H/connect_probe" -2 "$ONION1.onion" 25)
like "$out" "^second connect: EISCONN" "a second connect() on the connected socket: EISCONN, as the kernel says"

out=$(shim "$H/connect_probe" -f "$ONION1.onion" 25)
like "$out" "^fastopen: EOPNOTSUPP" "TCP Fast Open sendto to a synthetic address: EOPNOTSUPP (Exim falls back to connect)"
like "$out" "^connect: ok" "and the fallback connect goes through"

# isolate = no: no username/password, method 0x00 only.
sed -i 's/^log_level = .*/log_level = info\nisolate = no/' "$T/onionmx.conf"
: >"$T/socks.log"
out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>/dev/null)
like "$out" "^banner: 220 onion " "isolate = no: still connects"
like "$(cat "$T/socks.log")" "host=$ONION1\.onion port=25 atyp=3 user=- pass=-" "isolate = no: no isolation credentials"
sed -i '/^isolate = no/d' "$T/onionmx.conf"

# Port given in the map: the MTA connects to port 25, Tor is asked for 2525.
stop_socks
: >"$T/socks.log"
start_socks relay -r 127.0.0.41:2525 || exit 1
out=$(shim "$H/connect_probe" "$ONION2.onion" 25)
like "$out" "^banner: 220 onion2525 " "an onion with :2525 in the map is reached on 2525"
like "$(cat "$T/socks.log")" "host=$ONION2\.onion port=2525" "the SOCKS request asks for port 2525"

# IPv6 SOCKS address: the caller's AF_INET socket is swapped for an AF_INET6 one.
stop_socks
"$H/fake_socks" -6 -l "[::1]:9050" -m relay -r 127.0.0.40:25 -L "$T/socks.log" -p "$T/socks.pid" && wait_pidfile "$T/socks.pid"
sed -i 's/^socks = .*/socks = [::1]:9050/' "$T/onionmx.conf"
out=$(shim "$H/connect_probe" "$ONION1.onion" 25)
like "$out" "^banner: 220 onion " "SOCKS on [::1]: an AF_INET caller socket still connects (22-byte IPv6 reply parsed)"
stop_socks
sed -i 's/^socks = .*/socks = 127.0.0.1:9050/' "$T/onionmx.conf"

# Failures: each SOCKS outcome has its errno and its cause in the log.
fail_case() { # fail_case MODE CODE WANT-ERRNO WANT-CAUSE
	local mode=$1 code=$2 errno=$3 cause=$4 out
	stop_socks
	# A stand-in that did not start must fail here, not drop the checks below.
	start_socks "$mode" ${code:+-c "$code"}
	ok $? "SOCKS stand-in in mode $mode ${code:-} started"
	for nb in "" -n; do
		out=$(shim "$H/connect_probe" $nb "$ONION1.onion" 25 2>"$T/stderr")
		like "$out" "^connect: $errno" "SOCKS $mode ${code:-} ${nb:+(non-blocking)}: connect fails with $errno"
		like "$(cat "$T/stderr")" "cannot connect to $ONION1\.onion port 25 .*$cause" \
			"SOCKS $mode ${code:-} ${nb:+(non-blocking)}: the log names the cause"
	done
}
fail_case refuse 0x01 ECONNREFUSED "general SOCKS server failure"
fail_case refuse 0x05 ECONNREFUSED "connection refused"
fail_case refuse 0x04 EHOSTUNREACH "host unreachable"
fail_case extended 0xF0 EHOSTUNREACH "onion service descriptor not found"
fail_case extended 0xF1 EHOSTUNREACH "descriptor invalid"
fail_case extended 0xF2 EHOSTUNREACH "introduction failed"
fail_case extended 0xF3 EHOSTUNREACH "rendezvous failed"
fail_case extended 0xF4 EACCES "authorization missing"
fail_case extended 0xF5 EACCES "authorization wrong"
fail_case extended 0xF6 EHOSTUNREACH "invalid onion address"
fail_case extended 0xF7 ETIMEDOUT "introduction timed out"
fail_case noauth "" ECONNREFUSED "none of our authentication methods"
fail_case authfail "" EACCES "rejected the isolation"
fail_case garble "" EPROTO "malformed reply"
fail_case badatyp "" EPROTO "malformed reply"
fail_case close "" ECONNRESET "closed the connection"
# A hung server: each attempt ends with ETIMEDOUT (the runner's timeout guards
# against a hang; how long it took is shown, not asserted).
start=$(date +%s)
fail_case hang "" ETIMEDOUT "timed out"
echo "# a hung SOCKS server: 4 attempts with timeout = 2 took $(( $(date +%s) - start ))s"
# The MTA's next try of the same onion right after (its IPv4 and IPv4-mapped
# addresses both): the same error at once, Tor not asked again.
out=$(shim "$H/connect_probe" -R "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^retry: ETIMEDOUT" "a retry of a timed-out onion fails the same way"
like "$(cat "$T/stderr")" "not asked of Tor again so soon" "  at once: the log says Tor was not asked again"
is "$(grep -c 'via Tor .*timed out' "$T/stderr")" 1 "  one wait for the hung SOCKS server, not two"
start_socks relay -r 127.0.0.40:25 2>/dev/null || { stop_socks; start_socks relay -r 127.0.0.40:25; }
out=$(shim "$H/connect_probe" -R "$ONION2.onion" 25 2>/dev/null)
like "$out" "^banner: 220 onion " "(control: another onion in a new process connects)"
stop_socks
out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ENETDOWN" "Tor down: ENETDOWN (the MTA logs \"Network is down\", not the onion refusing)"
like "$(cat "$T/stderr")" "is Tor running" "Tor down: the log says so"

# A slow but working SOCKS server (one byte a second) still connects within the timeout.
sed -i 's/^timeout = .*/timeout = 30/' "$T/onionmx.conf"
start_socks slow -r 127.0.0.40:25 || exit 1
out=$(shim "$H/connect_probe" -i "$ONION1.onion" 25)
like "$out" "^signals during connect: many" "(SIGALRM every 50 ms, handler with SA_RESTART, during the slow handshake)"
like "$out" "^connect: ok" "signals whose handler has SA_RESTART do not interrupt the handshake: connect succeeds"
like "$out" "^banner: 220 onion " "a slow SOCKS reply is read to the end, then the banner"
out=$(shim "$H/connect_probe" -i -k "$ONION1.onion" 25)
like "$out" "^connect: ok" "the same with a crash handler (SIGSEGV, no SA_RESTART) installed: still not interrupted"
stop_socks

# A caller's signal interrupts the handshake as it would the kernel's connect():
# Exim wraps connect() in alarm() with a handler without SA_RESTART. The SOCKS
# server hangs and the timeout (30 s) is far away: the return comes from the
# signal (the handler ran, errno is EINTR). "timeout 25" only guards a hang.
start_socks hang || exit 1
out=$(timeout 25 env LD_PRELOAD="$PRELOAD" "$H/connect_probe" -a 1 "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^alarm handler ran: yes" "alarm() during a hung handshake: the caller's handler ran"
like "$out" "^connect: EINTR" "and connect() returned EINTR, as the kernel's would"
like "$out" "^retry connect: ECONNABORTED" "a second connect() on the interrupted socket fails closed (ECONNABORTED), never EISCONN"
like "$out" "^write after retry: EPIPE" "and the half-done SOCKS stream cannot carry an SMTP session (EPIPE)"
like "$out" "^getpeername after retry: ENOTCONN" "getpeername() on it: ENOTCONN (it is connected to nothing the caller asked for)"
like "$(cat "$T/stderr")" "interrupted by a signal" "the log says the handshake was interrupted"
out=$(timeout 25 env LD_PRELOAD="$PRELOAD" "$H/connect_probe" -n -a 1 "$ONION1.onion" 25 2>/dev/null)
like "$out" "^connect: EINTR" "the same on a non-blocking socket (the handshake still happens inside connect): EINTR"
like "$out" "^retry connect: ECONNABORTED" "non-blocking: the retry fails closed too"
# Control: the kernel's own blocking connect() under the same alarm. A listener
# with backlog 0 and one connection queued drops further SYNs: connect() waits.
perl -MSocket -e '
	my $addr = pack_sockaddr_in(2526, inet_aton("127.0.0.99"));
	my ($l, $c);
	socket($l, PF_INET, SOCK_STREAM, 0) && bind($l, $addr) && listen($l, 0) or die $!;
	socket($c, PF_INET, SOCK_STREAM, 0) && connect($c, $addr) or die $!;
	open(my $f, ">", "$ARGV[0].tmp") or die $!; print $f "$$\n"; close $f;
	rename("$ARGV[0].tmp", $ARGV[0]); sleep 120' "$T/full.pid" &
wait_pidfile "$T/full.pid"
out=$(timeout 25 "$H/connect_probe" -a 1 127.0.0.99 2526)
like "$out" "^connect: EINTR" "(control: without the library, the kernel's own blocking connect() returns EINTR under the same alarm)"
like "$out" "^retry connect: EINTR" "(control: the kernel's retry waits on for the same connection; ours cannot resume a SOCKS dialogue and fails closed)"
stop_pid "$(cat "$T/full.pid")"
out=$(timeout 25 "$H/connect_probe" -a 1 127.0.0.1 9050)
like "$out" "^connect: ok" "(control: the same probe without the library connects to the SOCKS port directly)"
like "$out" "^alarm handler ran: no" "(control: and its alarm did not fire during a connect that did not block)"
stop_socks

# Another thread makes the socket blocking in the middle of the handshake while
# the SOCKS server answers one byte a second: it still ends at the deadline
# (timeout = 2), not when the slow reply is complete.
sed -i 's/^timeout = .*/timeout = 2/' "$T/onionmx.conf"
start_socks slow -r 127.0.0.40:25 || exit 1
out=$(timeout 25 env LD_PRELOAD="$PRELOAD" "$H/connect_probe" -b "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ETIMEDOUT" "O_NONBLOCK cleared by another thread mid-handshake: still ETIMEDOUT at the deadline"
like "$(cat "$T/stderr")" "timed out" "and the log says it timed out"
stop_socks

# Hook robustness: sendmsg arithmetic, short IPv6 addresses, descriptors far
# apart, a stderr that is no longer stderr.
out=$(shim "$H/connect_probe" -S 2>&1)
like "$out" "^sendmsg overflow: Invalid argument" "sendmsg with iovec lengths past SIZE_MAX: EINVAL as the kernel says, no crash"
out=$("$H/connect_probe" -S 2>&1)
like "$out" "^sendmsg overflow: Invalid argument" "(control: the kernel itself answers EINVAL)"
start_socks relay -r 127.0.0.40:25 || exit 1
out=$(shim "$H/connect_probe" -6 -l 24 "$ONION1.onion" 25 2>/dev/null)
like "$out" "^connect: ok" "an AF_INET6 address of 24 bytes (no sin6_scope_id, the kernel accepts it) goes through Tor"
like "$out" "^banner: 220 onion " "24-byte AF_INET6 address: the onion's banner"
out=$(shim "$H/connect_probe" -6 -l 20 "$ONION1.onion" 25 2>/dev/null)
like "$out" "^connect: EINVAL" "an AF_INET6 address of 20 bytes: EINVAL, as the kernel answers"
out=$("$H/connect_probe" -6 -l 20 127.0.0.30 25 2>/dev/null)
like "$out" "^connect: EINVAL" "(control: the kernel answers EINVAL to a 20-byte AF_INET6 address)"
# Without a usable configuration every SMTP connection is refused: a 24-byte
# AF_INET6 address included (before, it was not read and passed through).
out=$(ONIONMX_CONF=$T/missing.conf shim "$H/connect_probe" -6 -l 24 127.0.0.40 25 2>/dev/null)
like "$out" "^connect: ECONNREFUSED" "no usable configuration: an SMTP connect with a 24-byte AF_INET6 address is refused"
out=$(ONIONMX_CONF=$T/missing.conf shim "$H/connect_probe" -6 -l 28 127.0.0.40 25 2>/dev/null)
like "$out" "^connect: ECONNREFUSED" "(control: with the full 28 bytes it is refused too)"
out=$("$H/connect_probe" -6 -l 24 127.0.0.40 25 2>/dev/null)
like "$out" "^connect: ok" "(control: without the library the kernel connects with 24 bytes)"
out=$(shim "$H/connect_probe" -q -d 10 -D 266 "$ONION1.onion" 25 2>/dev/null)
like "$out" "^second socket: ok" "a second Tor socket at descriptor 10 + 256 connects"
like "$out" "^peer: $ADDR1 port 25" "the first (fd 10) still reports the synthetic address"
like "$out" "^after shutdown: 221 " "and its shutdown(SHUT_WR) is still kept from Tor: the reply arrives"
out=$(shim "$H/connect_probe" -N 300 "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^more sockets: 255 ok, first failure: ENOBUFS" "256 Tor sockets open at once: the 257th is refused (ENOBUFS), none forgotten"
like "$(cat "$T/stderr")" "too many Tor sockets open at once" "and the log says why"
like "$out" "^retry on the refused socket: ENOBUFS" "a retry on the refused socket starts over (refused again), never EISCONN into Tor's SOCKS port"
like "$out" "^after closing them: ok" "once they are closed, their entries are reclaimed: a new Tor socket connects"
if (ulimit -n 70000) 2>/dev/null; then
	out=$(ulimit -n 70000 && shim "$H/connect_probe" -d 65600 "$ONION1.onion" 25 2>"$T/stderr")
	like "$out" "^connect: ENOBUFS" "a Tor socket at descriptor 65600 (beyond the table's bitmap) is refused, not forgotten"
	out=$(ulimit -n 70000 && shim "$H/connect_probe" -d 65600 127.0.0.1 9050 2>&1)
	like "$out" "^connect: ok" "(control: descriptor 65600 itself works: a connection to a plain address passes through)"
else
	ok 0 "# SKIP descriptors past 65535: the hard limit on open files ($(ulimit -Hn)) cannot be raised here"
fi
# A syslog receiver on a private /dev/log (an overlay over /dev, in this mount
# namespace only) to see where the line goes instead.
mkdir -p "$T/ovl_dev/u" "$T/ovl_dev/w"
mount -t overlay onionmx_dev -o "lowerdir=/dev,upperdir=$T/ovl_dev/u,workdir=$T/ovl_dev/w" /dev &&
	rm -f /dev/log && perl "$TOP/tests/mta/syslogd.pl" "$T/syslog" "$T/syslog.pid" /dev/log &&
	wait_pidfile "$T/syslog.pid"
out=$(shim "$H/connect_probe" -q -c "$ONION1.onion" 25)
like "$out" "^banner: 220 onion " "stderr closed and its fd 2 taken by the socket: the connection works"
unlike "$out" "^banner extra:" "no log line was written into the SMTP session on fd 2"
like "$out" "^after shutdown: 221 " "the first reply to the client is the one to its QUIT (nothing else was sent)"
like "$(cat "$T/syslog" 2>/dev/null)" "onionmx: connected to $ONION1\.onion port 25" \
	"the line went to syslog instead (log = stderr, but fd 2 is no longer the stderr of start-up)"
stop_pid "$(cat "$T/syslog.pid")"
umount -l /dev
stop_socks
sed -i 's/^timeout = .*/timeout = 30/' "$T/onionmx.conf"

# An address in the range that the map does not know.
out=$(shim "$H/connect_probe" 240.0.0.1 25 2>"$T/stderr")
like "$out" "^connect: EHOSTUNREACH" "a synthetic address no onion has: EHOSTUNREACH"
like "$(cat "$T/stderr")" "no onion has this address" "and the log says why"

is "$(sink_connections clearnet)" 0 "the clearnet MX of mapped.example saw no connection"
unlike "$(dns_queries)" "onion|mapped" "the DNS server saw nothing about the onion or mapped.example"
done_testing
