#!/bin/bash
# Debian's Exim delivers through onionmx and real Tor. In the private namespace
# of tests/mta/common.sh: the private Tor network of tests/tornet.sh (its client
# tor is the SOCKS port, its onion 1 serves port 25 from the onion sink), the
# library installed by make install, Exim started as exim4.service starts it
# with LD_PRELOAD=libonionmx.so. One message to mapped.example, whose onion MX
# is onion 1: it must arrive at the onion sink through the client tor (seen on
# its control port, with the isolation credentials), Exim and the library must
# log it, and neither the clearnet MX nor the DNS server may hear of it.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/tornet.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_enter "$@"
SECONDS=0
mta_private_root || exit 1
start_syslog /dev/log || exit 1
mta_tor_start
mta_discovery "$TOR_ONION2" || exit 1 # good.example publishes onion 2 by SRV
MAINLOG=/var/log/exim4/mainlog
exim_log() { cat "$MAINLOG" 2>/dev/null; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter Exim "$MAINLOG" ' \*\* ' "" 'exim4(\[[0-9]+\])?'

mta_exim_prepare
mta_exim_start >"$T/start.out" 2>&1
ok $? "/etc/init.d/exim4 start with LD_PRELOAD=libonionmx.so"
wait_for 10 test -s /run/exim4/exim.pid
DAEMON=$(cat /run/exim4/exim.pid 2>/dev/null)
grep -q libonionmx "/proc/$DAEMON/maps" 2>/dev/null
ok $? "the Exim daemon (pid $DAEMON) has the library loaded"

out=$(LD_PRELOAD=libonionmx.so /usr/sbin/exim4 -bt user@mapped.example 2>&1)
like "$out" "host $TOR_ONION1\.onion \[(::ffff:)?2(4[0-9]|5[0-5])\.[0-9.]+\]" \
	"exim4 -bt under the library: mapped.example's MX is the Tor network's onion 1"

scenario_tor_first exim
wait_for 10 grep -qE '(=>|==) user@mapped\.example' "$MAINLOG"
# Exim 4.96 pipelines QUIT after the message's final dot and then calls
# shutdown(SHUT_WR) before it reads the reply to the data. Tor has no
# half-closed streams: the client's FIN ends the stream, and the onion MX's
# "250" never comes back. Exim then defers a message that was delivered (and
# would deliver it again). Unless the library keeps that FIN from Tor, this fails.
unlike "$(exim_log)" "Remote host closed connection in response to end of data" \
	"Exim read the onion MX's reply to the message (no \"Remote host closed connection in response to end of data\")"
like "$(exim_log)" "=> user@mapped\.example R=dnslookup T=remote_smtp H=$TOR_ONION1\.onion \[(::ffff:)?2(4[0-9]|5[0-5])\.[0-9.]+\]" \
	"Exim's log: delivered to the onion MX at its synthetic address"
wait_for 10 grep -qE '(=>|==) user@u01\.example' "$MAINLOG"
like "$(exim_log)" "=> user@u01\.example R=dnslookup T=remote_smtp H=mx\.direct\.example \[198\.18\.0\.30\]" \
	"Exim's log: the unmapped domain went to its own MX"
# good.example is in no map: it publishes onion 2 as _onion-mx._tcp SRV.
scenario_tor_discovered exim
wait_for 10 grep -qE '(=>|==) user@good\.example' "$MAINLOG"
like "$(exim_log)" "=> user@good\.example R=dnslookup T=remote_smtp H=$TOR_ONION2\.onion \[(::ffff:)?248\.[0-9.]+\]" \
	"Exim's log: delivered to onion 2 at its address from the discovery range"
wait_for 10 eval '[ "$(/usr/sbin/exim4 -bpc)" = 0 ]'
is "$(/usr/sbin/exim4 -bpc 2>&1)" 0 "Exim's queue is empty"

scenario_tor_never
echo "# tor_exim.sh took $SECONDS s"
done_testing
