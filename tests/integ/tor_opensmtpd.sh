#!/bin/bash
# Debian's OpenSMTPD delivers through onionmx and real Tor. In the private
# namespace of tests/mta/common.sh: the private Tor network of tests/tornet.sh
# (its client tor is the SOCKS port, its onion 1 serves port 25 from the onion
# sink), the library installed by make install, OpenSMTPD unpacked from its
# .deb and started as opensmtpd.service starts it with LD_PRELOAD=libonionmx.so.
# One message to mapped.example, whose onion MX is onion 1: it must arrive at
# the onion sink through the client tor (seen on its control port, with the
# isolation credentials), OpenSMTPD and the library must log it, and neither
# the clearnet MX nor the DNS server may hear of it; one to an unmapped domain
# goes to its own MX directly. Then an onion no service publishes, and the
# client tor stopped: each message deferred, Tor's cause in the log.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/tornet.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_opensmtpd_deb_or_skip
mta_enter "$@"
SECONDS=0
out=$(mta_opensmtpd_prepare "$DEB" 2>&1) || {
	printf '%s\n' "$out" | sed 's/^/# /'
	echo "not ok 1 - OpenSMTPD unpacked and set up"
	echo "1..1"
	exit 1
}
start_syslog /dev/log || exit 1
mta_tor_start
# nosvc.example: a valid onion (a fresh ed25519 key) that no service publishes.
openssl genpkey -algorithm ed25519 -out "$T/nosvc.pem" 2>/dev/null
NOSVC=$(openssl pkey -in "$T/nosvc.pem" -pubout -outform DER | tail -c 32 | "$H/onion_from_key")
echo "nosvc.example $NOSVC.onion" >>/etc/onionmx/domains
"$MAPTOOL" /etc/onionmx/domains >/dev/null || exit 1
osd_log() { grep ' smtpd\[' "$SYSLOG"; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter OpenSMTPD "$SYSLOG" 'result="PermFail"' "" 'smtpd\[[0-9]+\]'
queue_count() { /usr/sbin/smtpctl show queue 2>/dev/null | grep -c . ; }

out=$(mta_opensmtpd_start 2>&1)
ok $? "/usr/sbin/smtpd with LD_PRELOAD=libonionmx.so"
wait_for 10 test -s /run/smtpd.pid
PARENT=$(cat /run/smtpd.pid 2>/dev/null)
grep -q libonionmx "/proc/$PARENT/maps" 2>/dev/null
ok $? "smtpd (pid $PARENT) has the library loaded"

scenario_tor_first opensmtpd
wait_for 10 grep -q 'to=<user@mapped\.example> .*result="Ok"' "$SYSLOG"
like "$(osd_log)" "mta delivery evpid=[0-9a-f]+ from=<[^>]*> to=<user@mapped\.example> .*relay=\"2(4[0-9]|5[0-5])\.[0-9.]+ \($TOR_ONION1\.onion\)\" .*result=\"Ok\" stat=\"250 " \
	"OpenSMTPD's log: delivered to onion 1 at its synthetic address, the onion's 250 read"
wait_for 10 eval '[ "$(queue_count)" = 0 ]'
is "$(queue_count)" 0 "OpenSMTPD's queue is empty"

# An onion no service publishes: deferred, with Tor's cause in the log.
echo "user@nosvc.example opensmtpd-nosvc" >"$T/msg3"
submit "$T/msg3" >/dev/null
wait_for 30 grep -q 'to=<user@nosvc\.example> .*result="TempFail"' "$SYSLOG"
like "$(osd_log)" "to=<user@nosvc\.example> .*result=\"TempFail\"" "an onion with no descriptor: OpenSMTPD deferred the message"
like "$(grep "onionmx: cannot connect to $NOSVC" "$SYSLOG")" \
	"smtpd\[[0-9]+\]: onionmx: cannot connect to $NOSVC\.onion port 25 \(MX of nosvc\.example\) via Tor 127\.0\.0\.1:9050: onion service descriptor not found" \
	"  the library logged Tor's cause (descriptor not found)"

# The client tor down: the next message for mapped.example stays queued.
tornet_stop client
before=$(sink_count onion)
echo "user@mapped.example opensmtpd-tor-down" >"$T/msg4"
submit "$T/msg4" >/dev/null
wait_for 30 grep -q "onionmx: cannot connect to $TOR_ONION1\.onion port 25 .*is Tor running" "$SYSLOG"
like "$(grep "onionmx: cannot connect to $TOR_ONION1" "$SYSLOG")" \
	"smtpd\[[0-9]+\]: onionmx: cannot connect to $TOR_ONION1\.onion port 25 \(MX of mapped\.example\) via Tor 127\.0\.0\.1:9050: cannot connect to Tor's SOCKS port \(is Tor running\?\)" \
	"Tor down: the library logged why (is Tor running?)"
is "$(queue_count)" 2 "  both undelivered messages are on the queue (nosvc.example's, and this one)"
is "$(sink_count onion)" "$before" "  nothing more reached the onion sink"
unlike "$(osd_log)" 'result="PermFail"' "  nothing bounced"

scenario_tor_never nosvc
echo "# tor_opensmtpd.sh took $SECONDS s"
done_testing
