#!/bin/bash
# The MTA settings operators change (issue 12's table), with the real Debian
# Postfix 3.7 and Exim 4.96 under the library as tests/integ/postfix.sh and
# exim.sh run them: each setting applied, mapped mail sent with the SOCKS
# stand-in for Tor up and down. For each: delivered at the onion sink (up),
# deferred and never bounced (down), no DNS query about a mapped domain or an
# onion, no connection to the mapped domain's clearnet addresses or to the
# fallback host - each negative paired with a control in the same run (an
# unmapped domain's query or connection IS seen). What the library cannot make
# safe, onionmx-check --mta names (exit 1).
#
# Extra addresses and names (besides tests/mta/common.sh's):
#   198.18.0.32:25   the fallback host ("fallback" sink)
#   198.18.0.33      dead.example's MX: nothing listens (its mail goes to the
#                    fallback host: the control that the fallback path works)
#   a01.example      unmapped, an A record only, at the direct sink (Postfix
#                    with DNS lookups disabled delivers to it)
#   mapped.example   A 127.0.0.20 (the clearnet sink), and
#                    _smtp._tcp.mapped.example SRV -> mx.mapped.example (198.18.0.20)
#   u02.example      _smtp._tcp SRV -> mx.direct.example (Exim check_srv's control)
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
mta_skip_san
mta_postfix_deb_or_skip
mta_enter "$@"
SECONDS=0
ip addr add 198.18.0.32/32 dev lo
ip addr add 198.18.0.33/32 dev lo
mta_postfix_prepare "$DEB" >"$T/postfix-install.out" 2>&1 || {
	sed 's/^/# /' "$T/postfix-install.out"
	echo "not ok 1 - Postfix unpacked and set up"
	echo "1..1"
	exit 1
}
start_syslog /dev/log /var/spool/postfix/dev/log || exit 1
mta_start_dns --host-record=a01.example,198.18.0.30 \
	--mx-host=dead.example,mx.dead.example,10 --host-record=mx.dead.example,198.18.0.33 \
	--srv-host=_smtp._tcp.mapped.example,mx.mapped.example,25,0,5 \
	--srv-host=_smtp._tcp.u02.example,mx.direct.example,25,0,5 || exit 1
mta_start_servers || exit 1
start_sink fallback 198.18.0.32:25 || exit 1
mta_install_onionmx || exit 1
CHECK=/usr/local/sbin/onionmx-check

tor_up() { start_socks relay -r 127.0.0.40:25; }
tor_down() { stop_socks; }
# DNS queries about mapped domains or onions since the log was last emptied.
mapped_queries() { dns_queries | grep -E ' ((mx\.|_smtp\._tcp\.)?(mapped|m[0-9][0-9])\.example|.*\.onion)$'; }
# No clearnet or fallback connection: the sinks' connection counts.
clear_connections() {
	echo $(($(sink_connections clearnet) + $(sink_connections clearnet2) + $(sink_connections fallback)))
}
syslog_count() { grep -cE -- "$1" "$SYSLOG" 2>/dev/null || true; }
syslog_count_at_least() { [ "$(syslog_count "$1")" -ge "$2" ]; }

# ---------------------------------------------------------------- Postfix
pf_queue_count() {
	local out
	out=$(/usr/sbin/postqueue -p 2>/dev/null)
	case $out in
	*"Mail queue is empty"*) echo 0 ;;
	*) printf '%s\n' "$out" | sed -n 's/.* in \([0-9]*\) Requests\?\.$/\1/p' ;;
	esac
}
pf_send() { # pf_send RCPT: through sendmail (smtpd may listen on ::1 only)
	printf 'Subject: %s\n\nhello\n' "$1" | /usr/sbin/sendmail -f sender@bounces.example "$1"
}
pf_status() { # pf_status RCPT: the last status= Postfix logged for RCPT
	grep -E "postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<$1>" "$SYSLOG" | sed -n 's/.*status=\([a-z]*\).*/\1/p' | tail -1
}
pf_has_status() { [ -n "$(pf_status "$1")" ]; }
pf_wait() { wait_for 30 pf_has_status "$1"; }
pf_clear_queue() { /usr/sbin/postsuper -d ALL >/dev/null 2>&1; }
pf_reload() { /usr/sbin/postfix reload >/dev/null 2>&1; }
pf_restart() {
	env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p stop >/dev/null 2>&1
	wait_for 10 sh -c '! test -s /var/spool/postfix/pid/master.pid || ! kill -0 $(cat /var/spool/postfix/pid/master.pid) 2>/dev/null'
	mta_postfix_start >/dev/null 2>&1
	wait_for 10 test -s /var/spool/postfix/pid/master.pid
}

# pf_round LABEL: the mapped-mail round every Postfix setting goes through:
# Tor up, mapped.example and m01.example delivered at the onion sink; Tor
# down, mapped.example and m02.example deferred, not bounced; no DNS query
# about them, no clearnet or fallback connection.
pf_round() {
	local label=$1 onion_before clear_before st
	: >"$T/dns.log"
	onion_before=$(sink_count onion)
	clear_before=$(clear_connections)
	pf_send "up-$label@mapped.example"
	pf_send "up-$label@m01.example"
	pf_wait "up-$label@mapped.example"
	pf_wait "up-$label@m01.example"
	is "$(pf_status "up-$label@mapped.example") $(pf_status "up-$label@m01.example")" "sent sent" \
		"postfix $label, Tor up: mail for mapped.example and m01.example sent"
	is "$(sink_count onion)" $((onion_before + 2)) "  both at the onion sink"
	tor_down
	pf_send "down-$label@mapped.example"
	pf_send "down-$label@m02.example"
	pf_wait "down-$label@mapped.example"
	pf_wait "down-$label@m02.example"
	st="$(pf_status "down-$label@mapped.example") $(pf_status "down-$label@m02.example")"
	is "$st" "deferred deferred" "postfix $label, Tor down: both deferred (not bounced, not sent)"
	tor_up
	is "$(mapped_queries)" "" "  no DNS query about a mapped domain or an onion"
	is "$(clear_connections)" "$clear_before" "  no connection to the clearnet or fallback sinks"
	pf_clear_queue
}

out=$(mta_postfix_start 2>&1)
ok $? "Postfix started as postfix@-.service starts it, with the library"
wait_for 10 test -s /var/spool/postfix/pid/master.pid


# --- Stock settings (the regression row).
pf_round stock

# --- Settings that were right before, kept as regressions (one round each).
for setting in smtp_dns_support_level=dnssec "smtp_host_lookup=dns, native" \
	smtp_address_preference=ipv6 smtp_address_preference=ipv4; do
	postconf -e "$setting"
	pf_reload
	pf_round "${setting%%=*}-$(printf '%s' "${setting#*=}" | tr -c 'a-z0-9' '-')"
	postconf -X "${setting%%=*}"
done
pf_reload

# --- smtp_dns_support_level = disabled: getaddrinfo(domain) instead of MX.
postconf -e smtp_dns_support_level=disabled
pf_reload
pf_round dns-disabled
# The control: an unmapped domain's A is asked of DNS and used.
: >"$T/dns.log"
direct_before=$(sink_count direct)
pf_send "ctl-dns-disabled@a01.example"
pf_wait "ctl-dns-disabled@a01.example"
is "$(pf_status ctl-dns-disabled@a01.example)" sent "control: a01.example (unmapped, A only) sent"
is "$(sink_count direct)" $((direct_before + 1)) "  to its A record (the direct sink)"
like "$(dns_queries)" "^A a01\.example$" "  after an A query DNS saw"
like "$(grep -F 'status=sent' "$SYSLOG" | grep -F 'up-dns-disabled@mapped.example')" \
	"relay=mapped\.example\[2(4[0-9]|5[0-5])\.[0-9.]+\]:25" \
	"  mapped.example was sent to its onion's synthetic address"
out=$("$CHECK" --mta postfix 2>&1)
unlike "$out" "unsafe: smtp_dns_support_level" "onionmx-check --mta no longer calls it unsafe"
postconf -X smtp_dns_support_level
pf_clear_queue

# --- smtp_fallback_relay: with Tor down the library refuses the fallback
# connection that follows a failed onion connection.
postconf -e "smtp_fallback_relay=[198.18.0.32]:25"
pf_reload
pf_round fallback-relay
like "$(grep -F 'down-fallback-relay@mapped.example' "$SYSLOG" | grep status=deferred | tail -1)" \
	"198\.18\.0\.32.*Operation not permitted" \
	"  Postfix's log: the fallback relay's connection was not permitted"
like "$(grep 'onionmx:' "$SYSLOG")" "refusing SMTP connection to 198\.18\.0\.32 port 25: .*onion" \
	"  the library's log says why"
# The control: an unmapped domain whose MX is down goes to the fallback relay.
fallback_before=$(sink_count fallback)
pf_send "ctl-fallback@dead.example"
pf_wait "ctl-fallback@dead.example"
is "$(pf_status ctl-fallback@dead.example)" sent "control: dead.example (MX down) sent"
is "$(sink_count fallback)" $((fallback_before + 1)) "  through the fallback relay"
out=$("$CHECK" --mta postfix 2>&1)
is "$?" 1 "onionmx-check --mta still calls smtp_fallback_relay unsafe (a cached connection escapes connect())"
like "$out" "unsafe: smtp_fallback_relay" "  named"
postconf -X smtp_fallback_relay
pf_clear_queue

# --- inet_protocols = ipv6: the onion's AAAA is its address IPv4-mapped.
postconf -e inet_protocols=ipv6
pf_restart
pf_round ipv6
like "$(grep -F 'status=sent' "$SYSLOG" | grep -F 'up-ipv6@mapped.example')" \
	"relay=[a-z2-7]{56}\.onion\[::ffff:2(4[0-9]|5[0-5])\.[0-9.]+\]:25" \
	"  sent to the onion at its IPv4-mapped address"
: >"$T/dns.log"
pf_send "ctl-ipv6@u01.example"
pf_wait "ctl-ipv6@u01.example"
like "$(dns_queries)" "^AAAA mx\.direct\.example$" "control: an unmapped MX host's AAAA is asked of DNS"
out=$("$CHECK" --mta postfix 2>&1)
unlike "$out" "unsafe: inet_protocols" "onionmx-check --mta no longer calls inet_protocols = ipv6 unsafe"
postconf -e inet_protocols=all
pf_clear_queue
is "$(syslog_count 'status=bounced.*(mapped|m[0-9][0-9])\.example')" 0 "Postfix bounced no mapped mail in any round"
env -i PATH="$MTA_PATH" /usr/sbin/postmulti -i - -p stop >/dev/null 2>&1
wait_for 10 sh -c '! ss -ltnH | grep -q ":25 "'

# ---------------------------------------------------------------- Exim
MAINLOG=/var/log/exim4/mainlog
mta_exim_prepare
cp /etc/exim4/exim4.conf.template "$T/template"
ex_queue_clear() { # the queue and the retry data
	/usr/sbin/exim4 -bp 2>/dev/null | awk '/^ *[0-9]/ { print $3 }' | xargs -r /usr/sbin/exim4 -Mrm >/dev/null 2>&1
	rm -f /var/spool/exim4/db/retry*
}
ex_restart() {
	env -i PATH="$MTA_PATH" /etc/init.d/exim4 stop >/dev/null 2>&1
	wait_for 10 sh -c '! ss -ltnH | grep -q "127.0.0.1:25 "'
	mta_exim_start >/dev/null 2>&1
	wait_for 10 sh -c 'ss -ltnH | grep -q "127.0.0.1:25 "'
}
ex_status() { # ex_status RCPT: "=>", "==" or "**": how Exim's mainlog last reported RCPT
	grep -E " (=>|==|\*\*) $1[ :]" "$MAINLOG" 2>/dev/null | awk '{ print $4 }' | tail -1
}
ex_has_status() { [ -n "$(ex_status "$1")" ]; }
ex_wait() { wait_for 30 ex_has_status "$1"; }
ex_send() { echo "$1 $1" >"$T/msg" && submit "$T/msg" >/dev/null; }

# ex_round LABEL: as pf_round, for Exim.
ex_round() {
	local label=$1 onion_before clear_before st
	: >"$T/dns.log"
	onion_before=$(sink_count onion)
	clear_before=$(clear_connections)
	ex_send "up-$label@mapped.example"
	ex_send "up-$label@m01.example"
	ex_wait "up-$label@mapped.example"
	ex_wait "up-$label@m01.example"
	is "$(ex_status "up-$label@mapped.example") $(ex_status "up-$label@m01.example")" "=> =>" \
		"exim $label, Tor up: mail for mapped.example and m01.example delivered"
	is "$(sink_count onion)" $((onion_before + 2)) "  both at the onion sink"
	tor_down
	ex_send "down-$label@mapped.example"
	ex_send "down-$label@m02.example"
	ex_wait "down-$label@mapped.example"
	ex_wait "down-$label@m02.example"
	st="$(ex_status "down-$label@mapped.example") $(ex_status "down-$label@m02.example")"
	is "$st" "== ==" "exim $label, Tor down: both deferred (not bounced, not delivered)"
	tor_up
	# Tor back, but Exim's retry data still holds the onion back: it skips it
	# (with fallback_hosts, straight to them, no onion connection tried).
	ex_send "retry-$label@mapped.example"
	ex_wait "retry-$label@mapped.example"
	is "$(ex_status "retry-$label@mapped.example")" "==" "exim $label, onion in retry back-off: deferred"
	is "$(mapped_queries)" "" "  no DNS query about a mapped domain or an onion"
	is "$(clear_connections)" "$clear_before" "  no connection to the clearnet or fallback sinks"
	ex_queue_clear
}

update-exim4.conf
out=$(mta_exim_start 2>&1)
ok $? "Exim started as exim4.service starts it, with the library"
wait_for 10 sh -c 'ss -ltnH | grep -q "127.0.0.1:25 "'
ex_round stock

# --- Settings that were right before, kept as a regression round (Debian's
# template already has dns_dnssec_ok = 1).
printf 'dns_use_edns0 = 1\n' >/etc/exim4/exim4.conf.localmacros
sed -i '/^dnslookup:/,/^$/ s/^  driver = dnslookup$/&\n  dnssec_request_domains = */' /etc/exim4/exim4.conf.template
sed -i '/^remote_smtp:/,/^$/ s/^  driver = smtp$/&\n  hosts_try_dane = */' /etc/exim4/exim4.conf.template
update-exim4.conf
ex_restart
like "$( (/usr/sbin/exim4 -bP transport remote_smtp; /usr/sbin/exim4 -bP router dnslookup;
	/usr/sbin/exim4 -bP dns_use_edns0) | tr '\n' ' ')" \
	"hosts_try_dane = \*.*dnssec_request_domains = \*.*dns_use_edns0 = 1" \
	"exim: hosts_try_dane, dnssec_request_domains, dns_use_edns0 in effect"
ex_round edns0-dnssec-dane
rm -f /etc/exim4/exim4.conf.localmacros
cp "$T/template" /etc/exim4/exim4.conf.template

# --- check_srv = smtp and fallback_hosts together (Debian's template).
sed -i '/^dnslookup:/,/^$/ s/^  driver = dnslookup$/&\n  check_srv = smtp/' /etc/exim4/exim4.conf.template
sed -i '/^remote_smtp:/,/^$/ s/^  driver = smtp$/&\n  fallback_hosts = 198.18.0.32/' /etc/exim4/exim4.conf.template
update-exim4.conf
ex_restart
ex_round srv-fallback
like "$(grep -F 'down-srv-fallback@mapped.example' "$MAINLOG")" "== down-srv-fallback@mapped\.example .*defer \(1\): Operation not permitted" \
	"  Exim's mainlog: the fallback host's connection was not permitted"
id=$(grep -F '== down-srv-fallback@mapped.example' "$MAINLOG" | awk '{ print $3; exit }')
like "$(grep 'onionmx: refusing SMTP connection to 198\.18\.0\.32' "$SYSLOG")" "exim4: onionmx: .* \[message $id\]$" \
	"  the library's syslog line names the same message ($id)"
: >"$T/dns.log"
direct_before=$(sink_count direct)
fallback_before=$(sink_count fallback)
ex_send ctl-srv@u02.example
ex_send ctl-fallback@dead.example
ex_wait ctl-srv@u02.example
ex_wait ctl-fallback@dead.example
like "$(dns_queries)" "^SRV _smtp\._tcp\.u02\.example$" "control: an unmapped domain's _smtp._tcp SRV is asked of DNS"
is "$(ex_status ctl-srv@u02.example)" "=>" "  and its mail delivered by it"
is "$(sink_count direct)" $((direct_before + 1)) "  at the direct sink"
is "$(ex_status ctl-fallback@dead.example)" "=>" "control: dead.example (MX down) delivered"
is "$(sink_count fallback)" $((fallback_before + 1)) "  through the fallback host"
out=$("$CHECK" --mta exim 2>&1)
unlike "$out" "check_srv" "onionmx-check --mta no longer calls check_srv unsafe"
like "$out" "unsafe: transport remote_smtp: fallback_hosts" "it still names fallback_hosts"
cp "$T/template" /etc/exim4/exim4.conf.template
ex_queue_clear

# --- A bogon list in ignore_target_hosts (240.0.0.0/4 is in every one).
echo "ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS = <; 0.0.0.0 ; 127.0.0.0/8 ; 100.64.0.0/10 ; 240.0.0.0/4" \
	>/etc/exim4/exim4.conf.localmacros
update-exim4.conf
ex_restart
out=$("$CHECK" --mta exim 2>&1)
is "$?" 1 "exim ignore_target_hosts with 240.0.0.0/4: onionmx-check --mta exits 1"
like "$out" "unsafe: router dnslookup: ignore_target_hosts" "  naming it"
ex_send bogon@mapped.example
ex_wait bogon@mapped.example
is "$(ex_status bogon@mapped.example)" "**" "  (with it Exim bounces mapped mail: the library cannot help, the check names it)"
rm -f /etc/exim4/exim4.conf.localmacros
ex_queue_clear
is "$(grep -cE ' \*\* (up|down)-.*@(mapped|m[0-9][0-9])\.example' "$MAINLOG")" 0 "Exim bounced no mapped mail in any round"
echo "# $SECONDS s"
if [ -n "${MTA_SETTINGS_KEEP:-}" ]; then cp "$MAINLOG" "$SYSLOG" "$T/dns.log" "$T/socks.log" "$MTA_SETTINGS_KEEP"/; fi
done_testing
