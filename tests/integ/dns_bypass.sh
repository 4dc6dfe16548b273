#!/bin/bash
# DNS queries a program sends itself, around libc's resolver: over UDP
# (connected or not: answered in place, as if from the server), over TCP
# (refused at once) - none about a mapped domain or an onion reaches the DNS
# server; other queries pass. Real clients (dig, host, nslookup, drill, kdig,
# dnspython) and a probe driving every sending path and descriptor trick.
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

for mode in tcp; do
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
out=$(shim $P cudp mapped.example MX 2>/dev/null)
like "$out" "answer mapped\.example\. 60 IN MX 10 $ONION1\.onion\." "cudp: a connected UDP socket gets the answer in place"
out=$(shim $P cudp plain.example MX 2>/dev/null)
like "$out" "MX 10 mx\.plain\.example" "cudp: other queries on a connected socket still reach the server"
without=$($P cudp mapped.example MX 2>/dev/null)
like "$without" "mx\.mapped\.example" "cudp: without the shim the same query would reach DNS (control)"

# The probe: every sending path and descriptor trick, each with an unmapped
# control that must reach the server and show it as the reply's source.
D="$H/dns_paths"
for m in udp-sendto udp-recvfrom-chk udp-sendmsg unspec cudp-send cudp-write cudp-writev cudp-sendmsg cudp-sendmmsg \
	cudp-syscall cudp-sendto-addr cudp-twice dup dup2 dup3 dupfd dupfd-cloexec scm exec high; do
	out=$(shim "$D" $m mapped.example MX 2>/dev/null)
	case $out in skip:*) echo "# skip $m: ${out#skip: } (hard RLIMIT_NOFILE $(ulimit -Hn))"; continue;; esac
	like "$out" "^answer rcode=0 an=1 onion=1 from=127\.0\.0\.1:53$" "$m: the mapped MX is answered in place, from the server's address"
	out=$(shim "$D" $m "$ONION1.onion" A 2>/dev/null)
	like "$out" "^answer rcode=0 an=1 onion=1 from=127\.0\.0\.1:53$" "$m: an onion's A is answered in place"
	out=$(shim "$D" $m plain.example MX 2>/dev/null)
	like "$out" "^answer rcode=0 an=1 onion=0 from=127\.0\.0\.1:53$" "$m: control: an unmapped MX reaches the server"
done
# Inherited descriptors are examined at the process's first send, or just
# before a chroot() that comes first: after it /proc is out of reach (Postfix's
# smtp chroots before it sends anything), and the descriptor here (2000) lies
# beyond a scan without /proc (the first 1024, one by one). chroot() as libc's
# and as syscall(SYS_chroot), into an empty directory.
mkdir -p "$T/emptyroot"
for m in exec-chroot exec-chroot-syscall; do
	out=$(OMX_TEST_CHROOT="$T/emptyroot" shim "$D" $m mapped.example MX 2>/dev/null)
	case $out in skip:*) ok 0 "# SKIP $m: ${out#skip: }"; continue ;; esac
	like "$out" "^answer rcode=0 an=1 onion=1 from=127\.0\.0\.1:53$" "$m: inherited descriptor 2000, the child chroots first: the mapped MX is answered in place"
	out=$(OMX_TEST_CHROOT="$T/emptyroot" shim "$D" $m plain.example MX 2>/dev/null)
	like "$out" "^answer rcode=0 an=1 onion=0 from=127\.0\.0\.1:53$" "$m: control: an unmapped MX reaches the server from the chroot"
done
controls=2 # runs without the library that send mapped.example to the DNS server
out=$(OMX_TEST_CHROOT="$T/emptyroot" "$D" exec-chroot mapped.example MX 2>/dev/null)
case $out in
skip:*) ok 0 "# SKIP exec-chroot without the library: ${out#skip: }" ;;
*)
	like "$out" "^answer rcode=0 an=1 onion=0" "exec-chroot: without the library the mapped MX reaches DNS (control)"
	controls=3
	;;
esac
for m in tcp tcp-split tcp-pipe tcp-sendto-addr tcp-tfo; do
	out=$(shim "$D" $m mapped.example MX 2>/dev/null)
	like "$out" "^refused errno=ECONNREFUSED" "$m: the mapped MX is refused at once"
	out=$(shim "$D" $m "$ONION1.onion" AAAA 2>/dev/null)
	like "$out" "^refused errno=ECONNREFUSED" "$m: an onion's AAAA is refused at once"
	out=$(shim "$D" $m plain.example MX 2>/dev/null)
	like "$out" "^answer rcode=0 an=1 onion=0" "$m: control: an unmapped MX reaches the server"
done
# Fail closed: what cannot be read is refused, whatever the name.
for m in cork more big bad-pointer bad-qdcount bad-dot sendfile; do
	out=$(shim "$D" $m "$ONION1.onion" A 2>/dev/null)
	like "$out" "^refused errno=E(CONNREFUSED|MSGSIZE|INVAL)" "$m: refused"
done
out=$("$D" bad-qdcount plain.example MX 2>/dev/null)
unlike "$out" "refused" "bad-qdcount: without the shim the packet leaves (control)"
out=$(shim "$D" sendfile plain.example MX 2>/dev/null)
like "$out" "^refused errno=EINVAL" "sendfile: refused on a DNS socket whatever it holds"
out=$("$D" sendfile plain.example MX 2>/dev/null)
like "$out" "^answer rcode=0 an=1" "sendfile: without the shim the query reaches the server (control)"

# Names are compared as the server reads them: escapes decoded; what the
# dotted form cannot hold ('.', '\\' or NUL inside a label) fails closed.
out=$(shim "$H/resolv_probe" query '\109apped.example' MX 2>/dev/null)
like "$out" "answer MX 10 $ONION1\.onion" "res_query: \\DDD-escaped mapped domain answered with its onion"
first=$(expr index "$ONION1" abcdefghijklmnopqrstuvwxyz) # a letter: "\4" would start a \DDD
out=$(shim "$H/resolv_probe" query "${ONION1:0:first-1}\\${ONION1:first-1}.onion" A 2>/dev/null)
like "$out" "answer A 2[45][0-9]\." "res_query: an onion with an escaped first letter answered in place"
out=$(shim "$H/resolv_probe" nsearch "x\\.y.$ONION1.onion" A 2>/dev/null)
like "$out" "^rc=-1 h_errno=2 " "res_nsearch: an escaped '.' in a label under .onion: TRY_AGAIN"
out=$(shim "$H/resolv_probe" query 'a\.plain.example' A 2>/dev/null)
like "$out" "rcode=3" "res_query: an escaped '.' in an unmapped name still goes to the server (control)"
out=$(shim "$D" res_send-qdcount "$ONION1.onion" A 2>&1)
like "$out" "refused errno=ECONNREFUSED" "res_send: a query with two questions is refused"
out=$("$D" res_send-qdcount plain.example A 2>&1)
unlike "$out" "ECONNREFUSED" "res_send: without the shim it is sent (control)"

# A DNS server on another port: a datagram that reads as a query about ours
# is answered in place; what does not stays the program's business.
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
	--listen-address=127.0.0.1 --bind-interfaces --port=5353 --local=/example/ \
	--log-queries --log-facility="$T/dns5353.log" --pid-file="$T/dnsmasq5353.pid" \
	--mx-host=mapped.example,mx.mapped.example,10 --mx-host=plain.example,mx.plain.example,10 &&
	wait_pidfile "$T/dnsmasq5353.pid"
out=$(shim "$D" udp-sendto mapped.example MX 5353 2>/dev/null)
like "$out" "^answer rcode=0 an=1 onion=1 from=127\.0\.0\.1:5353$" "port 5353: the mapped MX is answered in place, from the port asked"
out=$(shim "$D" udp-sendto plain.example MX 5353 2>/dev/null)
like "$out" "^answer rcode=0 an=1 onion=0 from=127\.0\.0\.1:5353$" "port 5353: control: an unmapped MX reaches that server"
q5353=$(cat "$T/dns5353.log" 2>/dev/null)
like "$q5353" "query\[MX\] plain\.example" "port 5353: its server saw the unmapped query"
unlike "$q5353" "mapped\.example" "port 5353: and not the mapped one"

# Real clients, as users run them.
for c in "dig +tries=1 +time=2 @127.0.0.1" "host -W 2 -t" "nslookup -timeout=2 -type=" "drill @127.0.0.1" "kdig +retry=0 +time=2 @127.0.0.1"; do
	tool=${c%% *}
	if ! command -v "$tool" >/dev/null; then
		echo "# skip $tool: not installed"
		continue
	fi
	if [ "$tool" = kdig ] && [ "${SAN:-}" = 1 ]; then
		echo "# skip kdig: under the ASan runtime alone it hangs at exit (p11-kit's destructor, setlocale lock)"
		continue
	fi
	case $tool in
	host) run() { shim host -W 2 -t "$2" "$1" 127.0.0.1; } ;;
	nslookup) run() { shim nslookup -timeout=2 -type="$2" "$1" 127.0.0.1; } ;;
	*) run() { shim $c "$1" "$2"; } ;;
	esac
	out=$(run mapped.example MX 2>&1)
	like "$out" "$ONION1\.onion" "$tool: the mapped domain's MX is its onion"
	out=$(run "$ONION1.onion" A 2>&1)
	like "$out" "2[45][0-9]\.[0-9]+\.[0-9]+\.[0-9]+" "$tool: the onion's A is its synthetic address"
	out=$(run plain.example MX 2>&1)
	like "$out" "mx\.plain\.example" "$tool: control: an unmapped MX comes from the server"
done
for c in "dig +tcp +tries=1 +time=2 @127.0.0.1" "drill -t @127.0.0.1" "kdig +tcp +retry=0 +time=2 @127.0.0.1"; do
	tool=${c%% *}
	command -v "$tool" >/dev/null || continue
	[ "$tool" = kdig ] && [ "${SAN:-}" = 1 ] && continue
	out=$(shim $c mapped.example MX 2>&1)
	like "$out" "refused a DNS query for mapped\.example" "$tool over TCP: refused at once"
	unlike "$out" "mx\.mapped\.example" "$tool over TCP: no clearnet MX"
done
PY=/usr/bin/python3
if $PY -c 'import dns.resolver' 2>/dev/null; then
	for proto in udp tcp; do
		out=$(shim $PY -c "
import dns.message, dns.query, sys
q = dns.message.make_query(sys.argv[1], 'MX')
try:
    r = dns.query.$proto(q, '127.0.0.1', timeout=2)
    print(r.answer)
except Exception as e:
    print('error', type(e).__name__, e)
" mapped.example 2>/dev/null)
		if [ $proto = udp ]; then
			like "$out" "$ONION1\.onion" "dnspython UDP: the answer in place is accepted"
		else
			like "$out" "^error" "dnspython TCP: refused at once"
		fi
	done
else
	echo "# skip dnspython: python3-dnspython not installed"
fi

queries=$(dns_queries)
is "$(printf '%s\n' "$queries" | grep -c 'mapped\.example')" $controls "the DNS server saw mapped.example only from the $controls control runs"
unlike "$queries" "\.onion" "the DNS server saw no onion name"
like "$queries" "MX plain\.example" "it did see the unmapped queries"
done_testing
