#!/bin/bash
# The receiving side: a provider's Tor onion service in front of its MX, with
# the configuration the README gives. Tor's onion service connects to the MTA
# from 127.0.0.1, and Debian's Postfix (mynetworks = 127.0.0.0/8 ...) and Exim
# (relay_from_hosts = 127.0.0.1 : ::1) let localhost clients relay: with
# "HiddenServicePort 25 127.0.0.1:25" the onion would be an open relay for
# anyone on Tor. So Tor is pointed at a separate listener, 127.0.0.1:2526, on
# which the MTA does not trust its clients:
#   Postfix: a master.cf service 127.0.0.1:2526 with -o mynetworks= and
#            -o smtpd_relay_restrictions=reject_unauth_destination
#   Exim:    dc_local_interfaces lists 127.0.0.1.2526, and the macro
#            MAIN_RELAY_NETS (exim4.conf.localmacros, or conf.d/main/
#            000_localmacros for the split config) empties relay_from_hosts
#            for connections received on port 2526.
# For each MTA (Debian's Postfix 3.7 unpacked from its .deb as postfix.sh does,
# then the installed Exim 4.96, non-split and split config), from 127.0.0.1:
# on 2526 a foreign recipient is refused (5xx) and the MTA's own postmaster
# accepted; on 25 (the stock listener) the same foreign recipient is accepted:
# the hazard, which shows the test can fail; and on 2527, a second listener
# without the overrides, too: a separate port alone is not the fix. Only
# RCPT is sent (the session ends there), to loopback only. The library is not
# involved: this is about the receiving MTA.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
if [ "${SAN:-}" = 1 ]; then
	echo "ok 1 - # SKIP nothing built is used here; the plain run has it"
	echo "1..1"
	exit 0
fi
DEB=$(mta_postfix_deb)
mta_enter "$@"
SECONDS=0
OWN=postmaster@$MTA_HOSTNAME   # a local domain of both MTAs (their hostname)
FOREIGN=someone@elsewhere.example

if [ -n "$DEB" ]; then
	mkdir -p "$T/pkg"
	dpkg -x "$DEB" "$T/pkg" || exit 1
	mta_private_root "$T/pkg" || exit 1
else
	mta_private_root || exit 1
fi

# rcpt_reply PORT ADDRESS: the reply to RCPT TO:<ADDRESS> at 127.0.0.1:PORT,
# from 127.0.0.1 (as Tor's onion service connects); the session ends there.
rcpt_reply() {
	swaks --server 127.0.0.1 --port "$1" --local-interface 127.0.0.1 --helo client.example \
		--from sender@sender.example --to "$2" --quit-after RCPT --timeout 10 2>&1 |
		awk 'f { sub(/^<[-*~]+ +/, ""); print; exit } /^ *-> RCPT TO:/ { f = 1 }'
}

listening() { # listening ADDR:PORT...
	local a
	for a in "$@"; do
		ss -tlnH "sport = :${a##*:}" | grep -qF " $a " || return 1
	done
}

port_free() { ! ss -tlnH "sport = :$1" | grep -q .; }

# relay_checks MTA [CONTROL]: the replies on 2526, on 25 and (if CONTROL) 2527.
relay_checks() {
	local mta=$1 control=${2:-} r
	r=$(rcpt_reply 2526 "$FOREIGN")
	like "$r" "^5[0-9][0-9] " "$mta, onion listener 127.0.0.1:2526: RCPT to $FOREIGN refused, 5xx ($r)"
	r=$(rcpt_reply 2526 "$OWN")
	like "$r" "^250 " "$mta, onion listener 127.0.0.1:2526: RCPT to $OWN accepted ($r)"
	r=$(rcpt_reply 25 "$FOREIGN")
	like "$r" "^250 " "$mta, stock listener 127.0.0.1:25: the same foreign RCPT is accepted, the hazard ($r)"
	if [ -n "$control" ]; then
		r=$(rcpt_reply 2527 "$FOREIGN")
		like "$r" "^250 " "$mta, control: a second listener without the overrides (2527) relays too ($r)"
	fi
}

# --- Postfix: its .deb set up as its postinst does ("Internet Site").
if [ -z "$DEB" ]; then
	ok 1 "no postfix .deb in ${POSTFIX_DEB_DIR:-/var/cache/onionmx}: run sh tests/deps.sh"
else
	out=$(sh "$TOP/tests/mta/postfix-install.sh" "$MTA_HOSTNAME" 2>&1)
	st=$?
	ok $st "Postfix $(dpkg-deb -f "$DEB" Version) unpacked and set up as its postinst does"
	[ $st = 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'
	start_syslog /dev/log /var/spool/postfix/dev/log || exit 1
	is "$(postconf -h mynetworks)" "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128" \
		"Debian's mynetworks: localhost clients may relay"
	# The README's lines, as they stand there, and the control listener.
	cat >>/etc/postfix/master.cf <<'EOM'
# The Tor onion service's listener (HiddenServicePort 25 127.0.0.1:2526):
# its clients all come from 127.0.0.1, and none of them may relay.
127.0.0.1:2526 inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/onion
  -o mynetworks=
  -o smtpd_relay_restrictions=reject_unauth_destination
# Test only: a second listener without the overrides.
127.0.0.1:2527 inet  n       -       y       -       -       smtpd
EOM
	MTA_STOP+=("env -i PATH=$MTA_PATH /usr/sbin/postmulti -i - -p stop")
	out=$({ env -i PATH="$MTA_PATH" /usr/lib/postfix/configure-instance.sh - &&
		env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p start; } 2>&1)
	st=$?
	ok $st "Postfix started (configure-instance.sh -, postmulti -i - -p start)"
	[ $st = 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'
	wait_for 10 listening 127.0.0.1:25 127.0.0.1:2526 127.0.0.1:2527
	ok $? "master listens on 127.0.0.1:25, :2526 and :2527"
	relay_checks Postfix control
	pf_log=$(grep ' postfix/' "$SYSLOG")
	like "$pf_log" "postfix/onion/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <$FOREIGN>: Relay access denied" \
		"Postfix's log: the refusal, under syslog_name postfix/onion"
	unlike "$pf_log" "(warning|fatal|panic):" "Postfix logged no warning (an empty mynetworks is valid)"
	env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p stop >/dev/null 2>&1
	wait_for 10 port_free 25
fi

# --- Exim: the installed exim4-daemon-light, debconf "internet site".
[ -n "$SYSLOG" ] || start_syslog /dev/log || exit 1
mta_exim_prepare
MAINLOG=/var/log/exim4/mainlog
UE4CC=/etc/exim4/update-exim4.conf.conf
env -i PATH="$MTA_PATH" update-exim4.conf
is "$(/usr/sbin/exim4 -bP +relay_from_hosts 2>&1)" "hostlist relay_from_hosts = : 127.0.0.1 : ::::1" \
	"Debian's relay_from_hosts (stock config): localhost clients may relay"
# The README's lines: the macro, and the listener added to dc_local_interfaces.
# shellcheck disable=SC2016 # Exim's expansion, written as Exim reads it
MACRO='MAIN_RELAY_NETS = ${if eq{$received_port}{2526}{}{<; 127.0.0.1 ; ::1}}'
printf '%s\n' "# No relaying for the Tor onion service's listener, 127.0.0.1:2526" "$MACRO" \
	>/etc/exim4/exim4.conf.localmacros
sed -i "s/^dc_local_interfaces=.*/dc_local_interfaces='127.0.0.1 ; ::1 ; 127.0.0.1.2526 ; 127.0.0.1.2527'/" "$UE4CC"
exim_start() { # exim_start WHAT
	local out st
	out=$(env -i PATH="$MTA_PATH" /etc/init.d/exim4 start 2>&1)
	st=$?
	ok $st "Exim started, $1"
	[ $st = 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'
	wait_for 10 test -s /run/exim4/exim.pid
}
exim_start "non-split config (the debconf default), exim4.conf.localmacros"
wait_for 10 listening 127.0.0.1:25 127.0.0.1:2526 127.0.0.1:2527
ok $? "the daemon listens on 127.0.0.1:25, :2526 and :2527"
relay_checks Exim control
like "$(cat "$MAINLOG")" "H=\(client\.example\) \[127\.0\.0\.1\] F=<sender@sender\.example> rejected RCPT <$FOREIGN>: relay not permitted" \
	"Exim's log: the refusal"

# The split config, with the macro in conf.d/main/000_localmacros; and the
# listeners of a public MX: every interface on port 25, and the onion's.
env -i PATH="$MTA_PATH" /etc/init.d/exim4 stop >/dev/null 2>&1
wait_for 10 port_free 25
rm /etc/exim4/exim4.conf.localmacros
printf '%s\n' "$MACRO" >/etc/exim4/conf.d/main/000_localmacros
sed -i "s/^dc_use_split_config=.*/dc_use_split_config='true'/
	s/^dc_local_interfaces=.*/dc_local_interfaces='::0 ; 0.0.0.0 ; 127.0.0.1.2526'/" "$UE4CC"
exim_start "split config, conf.d/main/000_localmacros, every interface"
wait_for 10 listening '[::]:25' 127.0.0.1:2526
ok $? "the daemon listens on port 25 of every interface and on 127.0.0.1:2526"
like "$(cat "$MAINLOG")" "daemon started: .*listening for SMTP on port 25 \(IPv6 and IPv4\) \[127\.0\.0\.1\]:2526" \
	"Exim's log: one socket for every interface, port 25, and the onion's listener"
relay_checks "Exim split"
is "$(cat /var/log/exim4/paniclog 2>/dev/null)" "" "Exim's paniclog is empty"
echo "# receiving.sh took $SECONDS s"
done_testing
