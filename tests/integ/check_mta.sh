#!/bin/bash
# onionmx-check --mta against the real Debian Postfix 3.7 and Exim 4.96, each
# setting applied the way an operator would (postconf -e, master.cf, Debian's
# exim4 macros and template, update-exim4.conf) and the report read back: the
# stock configuration is clean (exit 0), each unsafe setting is named with its
# fix (exit 1), and the fix it suggests makes it clean again. Also whether the
# running MTA has the library: started without it, it is named.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
mta_skip_san
mta_postfix_deb_or_skip
mta_enter "$@"
mta_postfix_prepare "$DEB" >"$T/postfix-install.out" 2>&1 || {
	sed 's/^/# /' "$T/postfix-install.out"
	echo "not ok 1 - Postfix unpacked and set up"
	echo "1..1"
	exit 1
}
mta_install_onionmx || exit 1
CHECK=/usr/local/sbin/onionmx-check
mta() { "$CHECK" --mta "$@" 2>&1; }

# --- Postfix: each setting alone, then back to the stock value.
out=$(mta postfix)
is "$?" 0 "postfix, stock main.cf with the drop-in installed: exit 0"
like "$out" "^mta postfix: 0 unsafe settings" "and the report says so"

postfix_case() { # postfix_case PARAM VALUE WHAT
	local param=$1 value=$2 what=$3 out status
	postconf -e "$param=$value"
	out=$(mta postfix)
	status=$?
	is "$status" 1 "postfix $param = $value ($what): exit 1"
	printf '%s\n' "$out" | grep -qxF "  unsafe: $param = $value"
	ok $? "  and it is named with its value"
	like "$out" "fix: " "  with a fix"
	postconf -X "$param"
	mta postfix >/dev/null
	is "$?" 0 "  and back to stock: exit 0"
}
postfix_case smtp_fallback_relay "[fallback.example]" "Tor down: mapped mail in clear to the fallback relay"
postfix_case relayhost "[relay.example]:587" "all mail to the relay"
postfix_case default_transport "smtp:[relay.example]" "a fixed next hop"
# Handled by the library (tests/integ/mta_settings.sh delivers with them): not
# unsafe; DNS lookups disabled is a note, unsafe only with discovery on.
handled_case() { # handled_case PARAM VALUE
	postconf -e "$1=$2"
	out=$(mta postfix)
	is "$?" 0 "postfix $1 = $2 (handled by the library): exit 0"
	postconf -X "$1"
}
handled_case smtp_dns_support_level disabled
like "$out" "note: +smtp_dns_support_level = disabled" "  a note: unsafe only with discover = srv"
handled_case disable_dns_lookups yes
handled_case inet_protocols ipv6

postconf -P "smtp/unix/smtp_fallback_relay=[fb.example]"
out=$(mta postfix)
is "$?" 1 "a master.cf override (smtp -o smtp_fallback_relay) alone: exit 1"
like "$out" "unsafe: master.cf smtp/unix: -o smtp_fallback_relay = \[fb\.example\]" "  named with its service"
postconf -PX "smtp/unix/smtp_fallback_relay"

out=$(mta -t postfix)
is "$out" "mta postfix ok" "-t: one line"
out=$(/usr/local/bin/onionmx -t 2>&1)
is "$?" 0 "onionmx -t with Postfix installed: exit 0"
like "$out" "^mta postfix ok$" "  and it includes onionmx-check --mta's line"
postconf -e "relayhost=[relay.example]"
out=$(/usr/local/bin/onionmx -t 2>&1)
like "$out" '^mta postfix unsafe "relayhost"$' "onionmx -t names an unsafe setting (advisory, exit $?)"
postconf -X relayhost
postconf -e "relayhost=[relay.example]" "smtp_fallback_relay=[fb.example]"
out=$(mta -t postfix)
is "$out" 'mta postfix unsafe "relayhost" "smtp_fallback_relay"' "-t with two unsafe settings: both named on one line"
postconf -X relayhost smtp_fallback_relay

# The library's presence: Postfix started without it, then with it.
env -i PATH="$MTA_PATH" /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1
env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p start >/dev/null 2>&1
wait_for 10 test -s /var/spool/postfix/pid/master.pid
MASTER=$(sed 's/ //g' /var/spool/postfix/pid/master.pid 2>/dev/null)
grep -q libonionmx "/proc/$MASTER/maps" 2>/dev/null
ok $((!$?)) "control: Postfix started without LD_PRELOAD (master $MASTER) does not have the library"
out=$(mta postfix)
is "$?" 1 "  onionmx-check --mta postfix: exit 1"
like "$out" "unsafe: postfix: the library = running pid $MASTER without libonionmx\.so" "  names the running master"
env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p stop >/dev/null 2>&1
wait_for 10 sh -c "! kill -0 $MASTER 2>/dev/null"
mta_postfix_start >/dev/null 2>&1
wait_for 10 test -s /var/spool/postfix/pid/master.pid
MASTER=$(sed 's/ //g' /var/spool/postfix/pid/master.pid 2>/dev/null)
grep -q libonionmx "/proc/$MASTER/maps" 2>/dev/null
ok $? "Postfix started as its unit starts it (master $MASTER) has the library"
out=$(mta postfix)
is "$?" 0 "  onionmx-check --mta postfix: exit 0"
env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p stop >/dev/null 2>&1

# The drop-in gone and Postfix stopped: nothing would load the library.
mv /etc/systemd/system/postfix@.service.d/onionmx.conf "$T/dropin.conf"
wait_for 10 sh -c "! kill -0 $MASTER 2>/dev/null"
out=$(mta postfix)
is "$?" 1 "no drop-in, no ld.so.preload, Postfix stopped: exit 1"
like "$out" "nothing loads libonionmx\.so into postfix" "  and why"
mv "$T/dropin.conf" /etc/systemd/system/postfix@.service.d/onionmx.conf

# "programs" that leaves out Postfix's smtp.
echo "programs = /usr/sbin/exim4" >>/etc/onionmx/onionmx.conf
out=$(mta postfix)
is "$?" 1 "programs = /usr/sbin/exim4 with Postfix: exit 1"
like "$out" "unsafe: onionmx\.conf: programs = /usr/sbin/exim4" "  programs is named"
like "$out" "add /usr/lib/postfix/sbin/smtp to programs" "  with the program to add"
sed -i '/^programs = /d' /etc/onionmx/onionmx.conf

# --- Exim (Debian's internet-site configuration).
mta_exim_prepare
update-exim4.conf
out=$(mta exim)
is "$?" 0 "exim, Debian's internet-site configuration: exit 0"
like "$out" "note: +exim4 run by hand" "  a note on manual exim4 runs (no ld.so.preload install)"

exim_rebuild() { update-exim4.conf && mta exim; }

# A bogon list on the dnslookup router (240.0.0.0/4 is in every one).
echo "ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS = <; 0.0.0.0 ; 127.0.0.0/8 ; 100.64.0.0/10 ; 240.0.0.0/4" \
	>/etc/exim4/exim4.conf.localmacros
out=$(exim_rebuild)
is "$?" 1 "exim ignore_target_hosts with 240.0.0.0/4: exit 1"
like "$out" "unsafe: router dnslookup: ignore_target_hosts" "  the router and option are named"
range=$(printf '%s\n' "$out" | sed -n 's/.*onionmx-map -r \([0-9./]*\).*/\1/p' | head -1)
like "$range" "^[0-9.]+/[0-9]+$" "  the fix names a range for onionmx-map -r ($range)"
"$MAPTOOL" -r "$range" /etc/onionmx/domains >/dev/null
out=$(mta exim)
is "$?" 0 "  after onionmx-map -r $range: exit 0"
"$MAPTOOL" /etc/onionmx/domains >/dev/null
rm -f /etc/exim4/exim4.conf.localmacros

# check_srv and fallback_hosts, written into Debian's template.
cp /etc/exim4/exim4.conf.template "$T/template"
sed -i '/^dnslookup:/,/^$/ s/^  driver = dnslookup$/&\n  check_srv = smtp/' /etc/exim4/exim4.conf.template
out=$(exim_rebuild)
is "$?" 0 "exim check_srv = smtp on the dnslookup router: exit 0 (the library answers _smtp._tcp of mapped domains)"
cp /etc/onionmx/onionmx.conf "$T/onionmx.conf.saved"
printf 'discover = srv\ncache = /var/lib/onionmx/discovery.cache\n' >>/etc/onionmx/onionmx.conf
out=$(mta exim)
is "$?" 1 "  with discover = srv: exit 1 (a discovered domain's SRV name goes to DNS)"
like "$out" "unsafe: router dnslookup: check_srv = smtp" "  named"
cp "$T/onionmx.conf.saved" /etc/onionmx/onionmx.conf
cp "$T/template" /etc/exim4/exim4.conf.template
sed -i '/^remote_smtp:/,/^$/ s/^  driver = smtp$/&\n  fallback_hosts = fallback.example/' /etc/exim4/exim4.conf.template
out=$(exim_rebuild)
is "$?" 1 "exim fallback_hosts on remote_smtp: exit 1"
like "$out" "unsafe: transport remote_smtp: fallback_hosts = fallback\.example" "  named"
cp "$T/template" /etc/exim4/exim4.conf.template

# A smarthost (debconf "mail sent by smarthost").
sed -i "s/^dc_eximconfig_configtype=.*/dc_eximconfig_configtype='smarthost'/
	s/^dc_smarthost=.*/dc_smarthost='relay.example::587'/" /etc/exim4/update-exim4.conf.conf
out=$(exim_rebuild)
is "$?" 1 "exim smarthost configuration: exit 1"
like "$out" "unsafe: router smarthost: route_list = \* relay\.example" "  the smarthost router is named"
mta_exim_prepare
out=$(exim_rebuild)
is "$?" 0 "back to internet site: exit 0"

# Exim running without the library, then with it.
env -i PATH="$MTA_PATH" /etc/init.d/exim4 start >/dev/null 2>&1
wait_for 10 test -s /run/exim4/exim.pid
DAEMON=$(cat /run/exim4/exim.pid 2>/dev/null)
out=$(mta exim)
is "$?" 1 "Exim daemon started without LD_PRELOAD: exit 1"
like "$out" "unsafe: exim: the library = running pid $DAEMON without" "  names the daemon"
env -i PATH="$MTA_PATH" /etc/init.d/exim4 stop >/dev/null 2>&1
wait_for 10 sh -c "! kill -0 $DAEMON 2>/dev/null"
mta_exim_start >/dev/null 2>&1
wait_for 10 test -s /run/exim4/exim.pid
DAEMON=$(cat /run/exim4/exim.pid 2>/dev/null)
grep -q libonionmx "/proc/$DAEMON/maps" 2>/dev/null
ok $? "Exim started as its unit starts it (pid $DAEMON) has the library"
out=$(mta exim)
is "$?" 0 "  onionmx-check --mta exim: exit 0"

# Detection, and a name it does not know.
out=$(mta -t)
like "$out" "^mta postfix " "no name given: Postfix detected (postconf answers)"
mta sendmail >/dev/null
is "$?" 2 "--mta sendmail: exit 2 (unknown MTA)"
"$CHECK" --mta exim postfix >/dev/null 2>&1
is "$?" 64 "--mta with two names: usage error (64)"
done_testing
