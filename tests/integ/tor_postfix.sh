#!/bin/bash
# Debian's Postfix delivers through onionmx and real Tor. In the private
# namespace of tests/mta/common.sh, with Postfix unpacked and set up as
# postfix.sh does: the private Tor network of tests/tornet.sh (its client tor is
# the SOCKS port, its onion 1 serves port 25 from the onion sink), the library
# installed by make install, Postfix started as postfix@-.service starts it with
# LD_PRELOAD=libonionmx.so. One message to mapped.example, whose onion MX is
# onion 1: it must arrive at the onion sink through the client tor (seen on its
# control port, with the isolation credentials), Postfix and the library must
# log it, and neither the clearnet MX nor the DNS server may hear of it.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/tornet.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_postfix_deb_or_fail
mta_enter "$@"
SECONDS=0
mta_postfix_prepare "$DEB" >"$T/install.out" 2>&1 || {
	ok 1 "Postfix unpacked and set up as its postinst does"
	sed 's/^/#   /' "$T/install.out"
	done_testing
	exit 1
}
start_syslog /dev/log /var/spool/postfix/dev/log || exit 1
mta_tor_start
mta_discovery "$TOR_ONION2" || exit 1 # good.example publishes onion 2 by SRV
pf_log() { grep ' postfix/' "$SYSLOG"; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter Postfix "$SYSLOG" 'status=bounced' "" 'postfix/smtp\[[0-9]+\]'

mta_postfix_start >"$T/start.out" 2>&1
ok $? "Postfix $(dpkg-deb -f "$DEB" Version) started as postfix@-.service starts it, with LD_PRELOAD=libonionmx.so"
wait_for 10 test -s /var/spool/postfix/pid/master.pid
MASTER=$(awk '{ print $1; exit }' /var/spool/postfix/pid/master.pid 2>/dev/null)
grep -q libonionmx "/proc/$MASTER/maps" 2>/dev/null
ok $? "Postfix's master (pid $MASTER) has the library loaded"

scenario_tor_first postfix
wait_for 10 grep -q 'to=<user@mapped\.example>.*status=' "$SYSLOG"
like "$(pf_log)" "postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<user@mapped\.example>, relay=$TOR_ONION1\.onion\[(::ffff:)?2(4[0-9]|5[0-5])\.[0-9.]+\]:25, .*status=sent" \
	"Postfix's log: sent to the onion MX at its synthetic address"
like "$(pf_log)" "to=<user@u01\.example>, relay=mx\.direct\.example\[198\.18\.0\.30\]:25, .*status=sent" \
	"Postfix's log: the unmapped domain went to its own MX"
# good.example is in no map: it publishes onion 2 as _onion-mx._tcp SRV.
scenario_tor_discovered postfix
wait_for 10 grep -q 'to=<user@good\.example>.*status=' "$SYSLOG"
like "$(pf_log)" "to=<user@good\.example>, relay=$TOR_ONION2\.onion\[(::ffff:)?248\.[0-9.]+\]:25, .*status=sent" \
	"Postfix's log: sent to onion 2 at its address from the discovery range"
wait_for 10 eval '/usr/sbin/postqueue -p 2>/dev/null | grep -q "Mail queue is empty"'
like "$(/usr/sbin/postqueue -p 2>&1)" "Mail queue is empty" "Postfix's queue is empty"

scenario_tor_never
unlike "$(pf_log)" "(fatal|panic|warning):" "Postfix logged no warning, fatal error or panic"
echo "# tor_postfix.sh took $SECONDS s"
done_testing
