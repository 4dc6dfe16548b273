#!/bin/bash
# Debian's own OpenSMTPD 6.8 (its stock smtpd.conf: mail from local relayed by
# MX) delivers through onionmx with nothing added to its service but
# LD_PRELOAD=libonionmx.so: started as opensmtpd.service starts it
# (ExecStart=/usr/sbin/smtpd), in a private namespace (see tests/mta/common.sh).
# OpenSMTPD conflicts with Postfix and Exim as a Debian package, so its .deb
# (downloaded by tests/deps.sh) is unpacked with dpkg -x and laid over /etc,
# /usr and /var in the namespace only, and set up as its postinst would
# (tests/mta/opensmtpd-install.sh).
#
# OpenSMTPD re-executes itself for each privilege-separated process; its lookup
# process resolves with libasr (connected UDP sockets, its own parser: MX, then
# A and AAAA of the MX host, then PTR of the address), and its pony express
# process, chrooted in /var/lib/opensmtpd/empty, connects. Each must have the
# library, and none of those questions about a mapped domain, an onion or a
# synthetic address may reach the DNS server (dnsmasq, logging every query).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_opensmtpd_deb_or_skip
mta_enter "$@"
SECONDS=0
out=$(mta_opensmtpd_prepare "$DEB" 2>&1)
ok $? "OpenSMTPD $(dpkg-deb -f "$DEB" Version) unpacked and set up as its postinst does"
[ "$T_FAIL" = 0 ] || { printf '%s\n' "$out" | sed 's/^/#   /'; done_testing; exit 1; }
start_syslog /dev/log || exit 1
mta_start_dns || exit 1
mta_start_servers || exit 1
mta_install_onionmx || exit 1

osd_log() { grep ' smtpd\[' "$SYSLOG"; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter OpenSMTPD "$SYSLOG" 'result="PermFail"' \
	"smtpctl schedule all, once OpenSMTPD enabled the routes to the onions again"
mta_deferred_re() { echo "to=<user@$1\.example> .*result=\"TempFail\""; }
# OpenSMTPD disables the route to an onion for 15 s after a failure; a retry
# before it enables it again fails at once (and backs off), so the queue is
# retried once it has.
mta_flush() {
	wait_for 30 log_count_at_least 'smtp-out: Enabling route .*\.onion\)' 3
	/usr/sbin/smtpctl schedule all >/dev/null 2>&1
}
queue_count() { /usr/sbin/smtpctl show queue 2>/dev/null | grep -c . ; }
smtpd_pids() { # every process running /usr/sbin/smtpd
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/smtpd ] && echo "${p#/proc/}"
	done
}
title_pid() { # title_pid TITLE: the smtpd process whose title is "smtpd: TITLE"
	local p
	for p in $(smtpd_pids); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" | sed 's/ *$//')" = "smtpd: $1" ] && echo "$p"
	done
}

# onionmx-check --mta opensmtpd reads the real smtpd.conf: a relay through a
# fixed host is named with its line, and the stock file is clean again.
cp /etc/smtpd.conf "$T/smtpd.conf.stock"
sed -i 's/^action "relay" relay$/action "relay" relay host smtp:\/\/relay.example/' /etc/smtpd.conf
out=$(/usr/local/sbin/onionmx-check --mta opensmtpd 2>&1)
is "$?" 1 "onionmx-check --mta opensmtpd with 'action \"relay\" relay host ...': exit 1"
like "$out" "unsafe: smtpd\.conf line [0-9]+ = action \"relay\" relay host smtp://relay\.example" "  the action is named with its line"
/usr/sbin/smtpd -n >/dev/null 2>&1
ok $? "  (smtpd -n accepts that configuration)"
cp "$T/smtpd.conf.stock" /etc/smtpd.conf

# Control for onionmx-check's report below: smtpd started without the library is named.
env -i PATH="$MTA_PATH" /usr/sbin/smtpd
wait_for 10 test -s /run/smtpd.pid
PARENT=$(cat /run/smtpd.pid 2>/dev/null)
out=$(/usr/local/sbin/onionmx-check --mta opensmtpd 2>&1)
is "$?" 1 "control: smtpd started without LD_PRELOAD: onionmx-check --mta opensmtpd exits 1"
like "$out" "unsafe: opensmtpd: the library = running pid $PARENT without libonionmx\.so" "  and names the running smtpd"
kill "$PARENT"
wait_for 10 sh -c '! kill -0 '"$PARENT"' 2>/dev/null && ! test -e /run/smtpd.pid'
rm -f /run/smtpd.pid

out=$(mta_opensmtpd_start 2>&1)
ok $? "/usr/sbin/smtpd under LD_PRELOAD=libonionmx.so (opensmtpd.service's ExecStart)"
unlike "$out" "onionmx" "start-up is silent about the library"
wait_for 10 test -s /run/smtpd.pid
PARENT=$(cat /run/smtpd.pid 2>/dev/null)
wait_for 10 eval '[ -n "$(title_pid "pony express")" ]'
LKA=$(title_pid lookup)
PONY=$(title_pid "pony express")
all=$(smtpd_pids)
for p in $all; do grep -q " $MTA_LIBDIR/libonionmx\.so$" "/proc/$p/maps" || echo "$p $(tr '\0' ' ' </proc/$p/cmdline)"; done >"$T/without"
is "$(cat "$T/without")" "" "all $(echo $all | wc -w) smtpd processes have libonionmx.so from $MTA_LIBDIR (parent $PARENT, lookup $LKA, pony express $PONY, ...)"
is "$(readlink "/proc/$PONY/root")" /var/lib/opensmtpd/empty "pony express (which connects) runs chrooted in /var/lib/opensmtpd/empty"
is "$(readlink "/proc/$LKA/root")" / "lookup (which asks DNS) runs unchrooted"
out=$(/usr/local/sbin/onionmx-check -t --mta opensmtpd 2>&1)
is "$out" "mta opensmtpd ok" "onionmx-check --mta opensmtpd: the stock smtpd.conf and the running smtpd are fine"

# --- Delivery: mapped domains to the onion, unmapped ones straight to their MX.
scenario_first_delivery
like "$(osd_log)" "mta delivery evpid=[0-9a-f]+ from=<[^>]*> to=<user@m01\.example> .*relay=\"2(4[0-9]|5[0-5])\.[0-9.]+ \($ONION_M01\.onion\)\" .*result=\"Ok\"" \
	"OpenSMTPD's log: delivered to the onion MX at its synthetic address, named by its onion"
like "$(osd_log)" "to=<user@u01\.example> .*relay=\"198\.18\.0\.30 \(mx\.direct\.example\)\" .*result=\"Ok\"" \
	"OpenSMTPD's log: the unmapped domain went to its own MX"
like "$(grep "onionmx: connected to $ONION_M01\.onion port 25" "$SYSLOG")" \
	"<2[0-3]>.* smtpd\[$PONY\]: onionmx: connected to $ONION_M01\.onion port 25 \(MX of m01\.example[ )]" \
	"the library's line is in the mail log, from pony express"
like "$(dns_queries)" "^(A|AAAA) mx\.direct\.example$" "control: and the address question about its MX host"

# --- Tor down: every message deferred, the library's cause in the log, none
# bounced. m02, m03 and m04 go to three onions OpenSMTPD has not connected to
# yet. (A message for an onion it has just delivered to, with a session to it
# still open, is instead held in pony express, which retries the connection
# every few seconds with a growing penalty: deferred too, but not logged as
# TempFail nor flushed by smtpctl, so not a step this test can time.)
scenario_tor_down "m02 m03 m04"
is "$(grep -E 'to=<user@m0[2-4]\.example> .*result="TempFail"' "$SYSLOG" | sed 's/.*to=<user@\(m0[0-9]\).*stat="\([^"]*\)".*/\1 \2/' | sort | tr '\n' ,)" \
	"m02 Network error on destination MXs,m03 Network error on destination MXs,m04 Network error on destination MXs," \
	"Tor down: OpenSMTPD deferred the three messages (TempFail, \"Network error on destination MXs\")"
for d in m02 m03 m04; do
	grep -q "smtpd\[$PONY\]: onionmx: cannot connect to $(onion_of $d.example)\.onion port 25 .* via Tor 127\.0\.0\.1:9050: cannot connect to Tor's SOCKS port (is Tor running?)" "$SYSLOG" || echo "$d"
done >"$T/nocause"
is "$(cat "$T/nocause")" "" "pony express logged why for each of the three onions (is Tor running?)"
is "$(log_count 'to=<user@m0[2-4]\.example> .*result="(PermFail|Ok)"')" 0 "none bounced, none counted as delivered"

# --- Tor back, the queue retried (mta_flush): everything delivered.
scenario_tor_back "m02 m03 m04"

# --- 100 messages: ten to each of five mapped domains (one per onion) and 50
# to an unmapped domain, 10 to an SMTP session: each at the right sink exactly
# once. (Few domains: OpenSMTPD opens one connection per destination domain,
# and at most one every 5 s to the same MX address; 50 unmapped domains on one
# MX host would take four minutes.)
scenario_exactly_once 10 10 "m01 m02 m03 m04 m05" "u01 u01 u01 u01 u01"

# --- A map change while OpenSMTPD runs. lookup (unchrooted) opens the rebuilt
# map; pony express is chrooted in /var/lib/opensmtpd/empty and holds nothing
# outside it, so it cannot: it sees its map was replaced and refuses every SMTP
# connection (never DNS, never the clearnet MX) until smtpd restarts. The
# README's step after every rebuild is that restart. (late.example is new to
# this OpenSMTPD: no connection it holds open to the domain's old MX, which a
# message would take without any connect() the library could refuse.)
# The hook of scenario_map_rebuilt: pony express defers the message, and a
# restart of smtpd plus a queue run sends it.
osd_map_rebuilt() { # osd_map_rebuilt before|after DOMAIN
	[ "$1" = after ] || return 0
	wait_for 30 grep -q 'to=<user@late\.example> .*result="TempFail"' "$SYSLOG"
	like "$(grep "smtpd\[$PONY\]: onionmx: .*domains\.cdb" "$SYSLOG")" "this process finds it has been replaced, and cannot open the map again" \
		"pony express saw the map replaced, and says it cannot open it again from its chroot"
	like "$(osd_log)" 'to=<user@late\.example> .*result="TempFail"' "OpenSMTPD deferred the message for late.example"
	is "$(sink_count onion)/$(sink_count direct)" "$SCEN_BEFORE_ONION/$SCEN_BEFORE_DIRECT" "it went nowhere (neither an onion nor the domain's own MX)"
	is "$(queue_count)" 1 "it waits on the queue"
	kill "$(cat /run/smtpd.pid)"
	wait_for 10 sh -c '! kill -0 '"$PARENT"' 2>/dev/null'
	out=$(mta_opensmtpd_start 2>&1)
	ok $? "smtpd restarted, as systemctl restart opensmtpd does"
	wait_for 10 eval '[ -n "$(title_pid "pony express")" ]'
	/usr/sbin/smtpctl schedule all >/dev/null 2>&1
}
scenario_map_rebuilt late.example no osd_map_rebuilt

scenario_never
echo "# opensmtpd.sh took $SECONDS s"
done_testing
