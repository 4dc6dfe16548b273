#!/bin/bash
# A socket the library saw made by socket() as TCP is not asked its protocol
# before the dial to Tor (one getsockopt() less per onion connect, issue 15);
# one made where the library cannot see (syscall(SYS_socket)) is asked as
# before. A stale mark - the number closed and taken unseen by a UDP socket -
# costs at most an empty datagram to the configured Tor on loopback: the
# connect() fails at once with ENETUNREACH, as for any datagram socket, and
# nothing else is sent anywhere (a UDP watcher on Tor's port and strace of the
# process's every send).
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
if ! command -v strace >/dev/null || ! command -v python3 >/dev/null; then
	echo "ok 1 - # SKIP strace or python3 not installed (tests/deps.sh installs them)"
	echo "1..1"
	exit 0
fi
OMX_TIMEOUT=5
start_dns || exit 1
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1

# What reaches UDP port 9050 on Tor's address: one line per datagram, its length.
python3 - "$T/udp.log" "$T/udp.pid" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9050))
log = open(sys.argv[1], "a", buffering=1)
open(sys.argv[2] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    data, src = s.recvfrom(65536)
    log.write("datagram %d bytes\n" % len(data))
PY
wait_pidfile "$T/udp.pid" || exit 1

probe() { # probe MODE: the probe under strace (network calls) -> $T/MODE.strace
	strace -f -qq -e trace=%network,write,writev -E LD_PRELOAD="$PRELOAD" -o "$T/$1.strace" \
		"$H/known_tcp_probe" "$1" "$ONION1.onion" 25 2>"$T/$1.stderr"
}
udp_seen() { # the watcher's log, once what was sent has had time to arrive
	sleep 0.2
	cat "$T/udp.log" 2>/dev/null
}

out=$(probe socket)
like "$out" "^connect: ok" "socket(): connected to the onion through the SOCKS server"
unlike "$(cat "$T/socket.strace")" "SO_PROTOCOL|SO_TYPE" "socket(): the socket is not asked its protocol or type"
like "$(cat "$T/socket.strace")" 'sendto\([0-9]+, "", 0, MSG_DONTWAIT\|MSG_NOSIGNAL\|MSG_FASTOPEN, \{sa_family=AF_INET, sin_port=htons\(9050\)' \
	"socket(): the dial starts with an empty sendto(MSG_FASTOPEN) to the SOCKS port"
like "$(cat "$T/socket.strace")" 'sendto\([0-9]+, "\\5\\1\\2\\1>[^"]*"\.\.\., 144, ' "(strace sees the library's sends: the request)"

out=$(probe syscall)
like "$out" "^connect: ok" "syscall(SYS_socket): connected"
like "$(cat "$T/syscall.strace")" "getsockopt\([0-9]+, SOL_SOCKET, SO_PROTOCOL" \
	"syscall(SYS_socket), a socket the library did not see made: asked its protocol, as before"

# accept() clears the mark of the number it returns: the socket is asked.
out=$(probe accept)
like "$out" "^same number: yes" "accept: the accepted socket took the TCP socket's number"
like "$out" "^connect: EISCONN" "accept: connect() on the connected socket answers EISCONN"
like "$(cat "$T/accept.strace")" "getsockopt\($(sed -n 's/^fd //p' <<<"$out"), SOL_SOCKET, SO_PROTOCOL" \
	"accept: the accepted socket is asked its protocol (its number's mark cleared)"

for mode in stale stale-dup; do
	: >"$T/udp.log"
	out=$(probe $mode)
	like "$out" "^same number: yes" "$mode: the UDP socket took the TCP socket's number"
	fd=$(sed -n 's/^fd //p' <<<"$out")
	like "$out" "^connect: ENETUNREACH after 0\.[0-4]" "$mode: connect() fails with ENETUNREACH at once (no timeout waited)"
	sends=$(grep -E "^[0-9]+ +(sendto|sendmsg|sendmmsg|write|writev|connect)\($fd," "$T/$mode.strace")
	like "$sends" "sendto\($fd, \"\", 0, .*htons\(9050\).*inet_addr\(\"127\.0\.0\.1\"\)" \
		"$mode: the one send is an empty datagram to Tor's address"
	is "$(wc -l <<<"$sends")" 1 "$mode: nothing else sent or connected on that socket"
	is "$(udp_seen)" "datagram 0 bytes" "$mode: what arrived at Tor's port: one empty datagram"
	like "$(cat "$T/$mode.stderr")" "not a TCP socket" "$mode: the cause is logged"
done
# Control: the watcher sees a datagram sent to Tor's port.
: >"$T/udp.log"
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"abc", ("127.0.0.1", 9050))'
is "$(udp_seen)" "datagram 3 bytes" "(control: the watcher sees a datagram sent to Tor's port)"
is "$(grep -c "^CONNECT" "$T/socks.log")" 2 "the SOCKS server was asked twice (socket, syscall), never by the stale sockets"
done_testing
