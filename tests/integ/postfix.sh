#!/bin/bash
# Debian's own Postfix 3.7 (stock configuration, debconf "Internet Site")
# delivers through onionmx with nothing added to its service but
# LD_PRELOAD=libonionmx.so: started as postfix@-.service starts it
# (/usr/lib/postfix/configure-instance.sh -, then postmulti -i - -p start), in a
# private namespace (see tests/mta/common.sh). Postfix conflicts with Exim as a
# Debian package, so its .deb (downloaded by tests/deps.sh) is unpacked with
# dpkg -x and laid over /etc, /usr and /var in the namespace only, and set up
# as its postinst would (tests/mta/postfix-install.sh). The library is
# installed mode 4755 in /usr/lib/TRIPLET (x86_64-linux-gnu) there, as make install does.
# Onion MX discovery is on (discover = srv): d01.example, in no map, gets its
# mail through its _onion-mx._tcp SRV record, and a failing SRV lookup defers.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
. "$TOP/tests/mta/scenarios.sh"
mta_skip_san
mta_postfix_deb_or_fail
mta_enter "$@"
SECONDS=0
mkdir -p "$T/pkg"
dpkg -x "$DEB" "$T/pkg" || exit 1
mta_private_root "$T/pkg" || exit 1
out=$(sh "$TOP/tests/mta/postfix-install.sh" "$MTA_HOSTNAME" 2>&1)
ok $? "Postfix $(dpkg-deb -f "$DEB" Version) unpacked and set up as its postinst does"
[ "$T_FAIL" = 0 ] || { printf '%s\n' "$out" | sed 's/^/#   /'; done_testing; exit 1; }
# Postfix logs through syslog, chrooted daemons through the chroot's /dev/log.
start_syslog /dev/log /var/spool/postfix/dev/log || exit 1
mta_start_dns || exit 1
mta_start_servers || exit 1
mta_install_onionmx || exit 1
mta_discovery || exit 1

pf_log() { grep ' postfix/' "$SYSLOG"; }
# The adapter of tests/mta/scenarios.sh.
mta_adapter Postfix "$SYSLOG" 'status=bounced' "LD_PRELOAD=libonionmx.so postqueue -f"
mta_deferred_re() { echo "to=<user@$1\.example>.*status=deferred"; }
mta_flush() { LD_PRELOAD=libonionmx.so /usr/sbin/postqueue -f >/dev/null 2>&1; }
queue_count() { # messages on the queue, as mailq says
	local out
	out=$(/usr/sbin/postqueue -p 2>/dev/null)
	case $out in
	*"Mail queue is empty"*) echo 0 ;;
	*) printf '%s\n' "$out" | sed -n 's/.* in \([0-9]*\) Requests\?\.$/\1/p' ;;
	esac
}
postfix_pids() { # every process running a Postfix daemon
	local p
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in /usr/lib/postfix/sbin/*) echo "${p#/proc/}" ;; esac
	done
}
smtp_pids() { pgrep -x smtp | sort -n; }

# POSTFIX_MEASURE_STALE=1: measures, with Postfix's defaults (max_idle 100 s,
# max_use 100, minimal_backoff_time and queue_run_delay 300 s), what happens
# when the operator rebuilds the map and does not run "postfix reload": how
# long the smtp processes that cannot see the new map live on, and when a
# message they deferred is delivered. Prints "# measured:" lines.
measure_stale_smtp() {
	local t0 before pids t_def t_gone="" t_sent="" elapsed
	any_alive() { local p; for p; do alive "$p" && return 0; done; return 1; }
	before=$(sink_count onion)
	echo "user@u40.example measure-fresh" >"$T/m0"
	submit "$T/m0" >/dev/null
	wait_for 20 log_count_at_least 'to=<user@u40\.example>.*status=sent' 1
	pids=$(smtp_pids)
	echo "late.example ${ONION_MOVED}.onion" >>/etc/onionmx/domains
	"$MAPTOOL" /etc/onionmx/domains >/dev/null
	t0=$SECONDS
	sleep 1.2 # the library looks at the map at most once a second
	echo "user@late.example measure-stale" >"$T/m1"
	submit "$T/m1" >/dev/null
	wait_for 20 log_count_at_least 'to=<user@late\.example>.*status=deferred' 1
	t_def=$((SECONDS - t0))
	echo "# measured: smtp processes running at the rebuild: $(printf '%s ' $pids)"
	echo "# measured: the message for the added domain was deferred $t_def s after the rebuild"
	while [ $((SECONDS - t0)) -lt 900 ]; do
		if [ -z "$t_gone" ] && ! any_alive $pids; then
			t_gone=$((SECONDS - t0))
			echo "# measured: the last smtp process running at the rebuild exited $t_gone s after it (idle, max_idle)"
		fi
		if [ -z "$t_sent" ] && [ "$(sink_count onion)" -gt "$before" ] &&
			grep -q 'to=<user@late\.example>.*status=sent' "$SYSLOG"; then
			t_sent=$((SECONDS - t0))
			echo "# measured: the deferred message was delivered over the onion $t_sent s after the rebuild, with no operator action"
		fi
		[ -n "$t_gone" ] && [ -n "$t_sent" ] && break
		sleep 1
	done
	elapsed=$((SECONDS - t0))
	[ -n "$t_sent" ] || echo "# measured: the deferred message was still queued $elapsed s after the rebuild"
	grep -E 'late\.example|onionmx: .*replaced' "$SYSLOG" | sed 's/^/# measured: log: /'
	/usr/sbin/postfix reload >/dev/null 2>&1 # whatever happened, current smtp processes for the rest
}

MTA_STOP+=("env -i PATH=$MTA_PATH /usr/sbin/postmulti -i - -p stop")
out=$(env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /usr/lib/postfix/configure-instance.sh - 2>&1)
ok $? "configure-instance.sh - under LD_PRELOAD=libonionmx.so (postfix@-.service's ExecStartPre)"
unlike "$out" "onionmx" "it ran silently (postconf, cpio, tar under the library)"
is "$(cat /var/spool/postfix/etc/resolv.conf 2>/dev/null)" "nameserver 127.0.0.1" "it copied resolv.conf into the chroot"
out=$(env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /usr/sbin/postmulti -i - -p start 2>&1)
ok $? "postmulti -i - -p start under LD_PRELOAD=libonionmx.so (postfix@-.service's ExecStart)"
unlike "$out" "onionmx" "start-up is silent about the library (postfix-script parses postconf, find, sed)"
wait_for 10 test -s /var/spool/postfix/pid/master.pid
MASTER=$(awk '{ print $1; exit }' /var/spool/postfix/pid/master.pid 2>/dev/null)
grep -q libonionmx "/proc/$MASTER/maps" 2>/dev/null
ok $? "master (pid $MASTER) has the library loaded, though postfix cleared its environment"
like "$(tr '\0' '\n' <"/proc/$MASTER/environ" 2>/dev/null)" "^LD_PRELOAD=libonionmx\.so$" \
	"master's LD_PRELOAD is the bare name the library put back"

# --- Delivery: mapped domains to the onion, unmapped ones straight to their MX.
scenario_first_delivery
like "$(pf_log)" "postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<user@m01\.example>, relay=$ONION_M01\.onion\[(::ffff:)?2(4[0-9]|5[0-5])\.[0-9.]+\]:25, .*status=sent" \
	"Postfix's log: sent to the onion MX at its synthetic address"
like "$(pf_log)" "to=<user@u01\.example>, relay=mx\.direct\.example\[198\.18\.0\.30\]:25, .*status=sent" \
	"Postfix's log: the unmapped domain went to its own MX"
line=$(grep "onionmx: connected to $ONION_M01\.onion port 25" "$SYSLOG" | head -1)
like "$line" "postfix/smtp\[[0-9]+\]: onionmx: connected to $ONION_M01\.onion port 25 \(MX of m01\.example[ )]" \
	"the library's line is in Postfix's log, from the smtp process"
grep 'onionmx:' "$SYSLOG" | grep '^<' | grep -vq '^<2[0-3]>'
ok $((!$?)) "every library line went to facility mail"
# The chrooted smtp processes counted into the shared statistics (onionmx-stats).
scenario_first_stats

# --- The library in the delivering processes (chrooted smtp) and every other daemon.
SMTP_PIDS=$(smtp_pids)
[ -n "$SMTP_PIDS" ]
ok $? "smtp processes are running ($(printf '%s ' $SMTP_PIDS))"
for p in $SMTP_PIDS; do
	grep -q " $MTA_LIBDIR/libonionmx\.so$" "/proc/$p/maps" || echo "$p"
done >"$T/without"
is "$(cat "$T/without")" "" "/proc/PID/maps: every smtp process has libonionmx.so from $MTA_LIBDIR"
is "$(readlink "/proc/$(echo "$SMTP_PIDS" | head -1)/root")" /var/spool/postfix "and smtp runs chrooted in /var/spool/postfix"
pid=$(printf '%s\n' "$line" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
like "$(pf_log | grep "postfix/smtp\[$pid\]")" "to=<user@m01\.example>.*status=sent" \
	"the smtp process that logged the onion connection is the one that sent the message"
all=$(postfix_pids)
for p in $all; do grep -q libonionmx "/proc/$p/maps" || echo "$p $(cat /proc/$p/comm)"; done >"$T/without"
is "$(cat "$T/without")" "" "all $(echo $all | wc -w) Postfix daemons running have it ($(for p in $all; do cat /proc/$p/comm; done | sort -u | tr '\n' ' '))"
# A compromised smtp process must not leave its chroot through the library: it
# holds no descriptor (O_PATH included) of a directory outside the chroot.
for p in $SMTP_PIDS; do dir_fds_outside "$p" | sed "s/^/$p: /"; done >"$T/dirfds"
is "$(cat "$T/dirfds")" "" "/proc/PID/fd: no smtp process holds a directory outside /var/spool/postfix"
exec {DIR_FD}</etc/onionmx
like "$(dir_fds_outside $$)" "^$DIR_FD /etc/onionmx$" "control: the check sees a directory descriptor (this shell's fd $DIR_FD on /etc/onionmx)"
exec {DIR_FD}<&-
is "$(stat -L -c %F "/proc/$MASTER/cwd")" directory "control: stat -L of a /proc link reports a directory (master's cwd)"

# --- Tor down: every message deferred with the library's cause, none bounced.
scenario_tor_down "m04 m05 m06 m07 m08"
line=$(grep -E 'to=<user@m0[4-8]\.example>.*status=deferred' "$SYSLOG" | head -1)
like "$line" "status=deferred \(connect to [a-z2-7]{56}\.onion\[(::ffff:)?2(4[0-9]|5[0-5])\.[0-9.]+\]:25: Network is down\)" \
	"the deferral's cause: connect to the onion refused"
pid=$(printf '%s\n' "$line" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
like "$(grep "postfix/smtp\[$pid\]: onionmx:" "$SYSLOG")" \
	"onionmx: cannot connect to [a-z2-7]{56}\.onion port 25 \(MX of [a-z0-9.]+[^)]*\) via Tor 127\.0\.0\.1:9050: cannot connect to Tor's SOCKS port \(is Tor running\?\)" \
	"the same smtp process logged why (is Tor running?)"
is "$(mta_stats "d['total']['failed_by_cause'], d['total']['succeeded']")" "{'tor_refused': 5} 2" \
	"statistics: Tor's port refused each of those five deliveries"

# --- Tor back, a queue flush under the library: everything delivered.
scenario_tor_back "m04 m05 m06 m07 m08"

# --- A map change while Postfix runs. The running smtp processes are chrooted
# and hold nothing outside the chroot, so they cannot open the rebuilt map: one
# asked to deliver after the change sees its map was replaced and defers the
# message (never DNS, never the clearnet MX). After "postfix reload" new smtp
# processes open the new map, and the queued message goes to the onion.
# The hook of scenario_map_rebuilt: the smtp processes running before the
# change defer the message, and "postfix reload" plus a flush sends it.
postfix_map_rebuilt() { # postfix_map_rebuilt before|after DOMAIN
	local line pid
	if [ "$1" = before ]; then
		smtp_before=$(smtp_pids)
		return
	fi
	wait_for 20 log_count_at_least 'to=<user@moved\.example>.*status=deferred' 1
	line=$(grep -E 'to=<user@moved\.example>.*status=deferred' "$SYSLOG" | head -1)
	like "$line" "status=deferred \(Host or domain name not found\. Name service error for name=moved\.example type=MX: Host not found, try again\)" \
		"a running smtp process deferred the message for moved.example (its MX lookup failed temporarily)"
	pid=$(printf '%s\n' "$line" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
	printf '%s\n' $smtp_before | grep -qx "$pid"
	ok $? "it was an smtp process started before the change (pid $pid; running then: $(printf '%s ' $smtp_before))"
	like "$(grep "postfix/smtp\[$pid\]: onionmx:" "$SYSLOG")" \
		"onionmx: /etc/onionmx/domains\.cdb: this process finds it has been replaced, and cannot open the map again \(it has chrooted, [^)]*\): deferring every MX lookup until it restarts \(Postfix: postfix reload\)" \
		"the same smtp process logged why"
	like "$(/usr/sbin/postqueue -p 2>/dev/null)" "user@moved\.example" "postqueue -p: the message waits on the queue"
	is "$(dns_queries | grep -c 'moved\.example$')" "$SCEN_DNS_BEFORE" "DNS heard nothing about moved.example while it waited"
	is "$(sink_count direct)" "$SCEN_BEFORE_DIRECT" "its old MX got nothing more"
	is "$(sink_count onion)" "$SCEN_BEFORE_ONION" "nor did the onion sink, yet"
	t_reload=$(date +%s%N)
	/usr/sbin/postfix reload >/dev/null 2>&1
	ok $? "postfix reload (the operator's step after onionmx-map)"
	all_gone() { for p in $smtp_before; do alive "$p" && return 1; done; return 0; }
	wait_for 20 all_gone
	ok $? "every smtp process that ran before the change has exited"
	echo "# the last of them exited $((($(date +%s%N) - t_reload) / 1000000)) ms after postfix reload"
	/usr/sbin/postqueue -f >/dev/null 2>&1
}
scenario_map_rebuilt moved.example before postfix_map_rebuilt
pid2=$(grep 'to=<user@moved\.example>.*relay=.*\.onion' "$SYSLOG" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p' | head -1)
[ -n "$pid2" ] && ! printf '%s\n' $smtp_before | grep -qx "$pid2"
ok $? "it was sent by an smtp process started after the change (pid $pid2)"
for p in $(smtp_pids); do dir_fds_outside "$p" | sed "s/^/$p: /"; done >"$T/dirfds"
is "$(cat "$T/dirfds")" "" "/proc/PID/fd: the new smtp processes hold no directory outside the chroot either"
if [ -n "${POSTFIX_MEASURE_STALE:-}" ]; then
	measure_stale_smtp # minutes, so only on request
fi

# --- Onion MX discovery (discover = srv since the start): d01.example is in no
# map, publishes its onion in _onion-mx._tcp SRV (port 2525) and keeps a
# clearnet MX, the trap one. The chrooted smtp asks for the SRV record; the
# onion's synthetic address is in the shared cache file, opened before chroot.
scenario_discovery_first
line=$(pf_log | grep -E 'to=<user@d01\.example>.*status=sent' | head -1)
like "$line" "postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<user@d01\.example>, relay=$ONION_D01\.onion\[(::ffff:)?248\.[0-9.]+\]:25, " \
	"Postfix's log: sent to the discovered onion at its address in 248.0.0.0/8"
pid=$(printf '%s\n' "$line" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
addr=$(printf '%s\n' "$line" | sed -n 's/.*relay=[a-z2-7]*\.onion\[\(::ffff:\)\{0,1\}\([0-9.]*\)\].*/\2/p')
like "$(grep "postfix/smtp\[$pid\]: onionmx:" "$SYSLOG")" \
	"onionmx: discovered onion MX for d01\.example: $ONION_D01\.onion " \
	"the same chrooted smtp process (pid $pid) logged the discovery"
# A fresh process outside the chroot finds the same address in the file.
scenario_discovery_cache "$addr"
# A second message after "postfix reload" (the smtp processes replaced): a new
# process, and still no second SRV query - the answer came from the file.
smtp_before=$(smtp_pids)
/usr/sbin/postfix reload >/dev/null 2>&1
ok $? "postfix reload (its smtp processes exit)"
gone() { ! smtp_pids | grep -qx "$pid"; }
wait_for 10 gone
ok $? "the smtp process that delivered disc-1 (pid $pid) has exited"
scenario_discovery_second
pid2=$(pf_log | grep -E 'to=<user@d01\.example>.*status=sent' | sed -n '2s/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
[ -n "$pid2" ] && [ "$pid2" != "$pid" ] && ! printf '%s\n' $smtp_before | grep -qx "$pid2"
ok $? "sent by an smtp process started after the reload (pid $pid2)"
like "$(pf_log | grep "postfix/smtp\[$pid2\]: .*to=<user@d01\.example>")" "relay=$ONION_D01\.onion\[(::ffff:)?$addr\]:25, .*status=sent" \
	"at the same synthetic address"

# --- The SRV lookup fails (servfail.example's server answers SERVFAIL): the
# message is deferred, never sent to the domain's clearnet MX, never bounced.
scenario_srv_fail
line=$(grep -E 'to=<user@servfail\.example>.*status=deferred' "$SYSLOG" | head -1)
like "$line" "status=deferred \(Host or domain name not found\. Name service error for name=servfail\.example type=MX: Host not found, try again\)" \
	"SRV lookup failing: Postfix deferred the message (the MX lookup failed temporarily)"
pid=$(printf '%s\n' "$line" | sed -n 's/.*postfix\/smtp\[\([0-9]*\)\].*/\1/p')
like "$(grep "postfix/smtp\[$pid\]: onionmx:" "$SYSLOG")" \
	"onionmx: _onion-mx\._tcp\.servfail\.example SRV lookup failed: SERVFAIL .*; deferring its MX lookup" \
	"the same smtp process logged why"
like "$(/usr/sbin/postqueue -p 2>/dev/null)" "user@servfail\.example" "postqueue -p: the message is on the queue"
id=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9A-F]*\): to=.*/\1/p')
/usr/sbin/postsuper -d "$id" >/dev/null 2>&1
is "$(queue_count)" 0 "(postsuper -d $id: the queue is empty again)"

# --- 500 messages: 5 to each of 50 mapped and 50 unmapped domains.
scenario_exactly_once 100 5 "$(seq -f 'm%02g' 1 50)" "$(seq -f 'u%02g' 1 50)"

# --- An unprivileged user and the setuid-installed library: their config and
# map are never read by a set-id program. As nobody, with their own
# ONIONMX_CONF naming their own map, through Postfix's setgid postqueue, and
# through sendmail (not set-id: it may read theirs) into the setgid postdrop.
their_config
AS_NOBODY_TRACE=%file,execve # postdrop's lines are found after its execve
out=$(as_nobody "$T/nobody.strace" /usr/sbin/postqueue -p)
like "$out" "Mail queue is empty" "nobody: the setgid postqueue -p works with LD_PRELOAD=libonionmx.so"
unlike "$(cat "$T/nobody.strace")" "theirs" "strace: the setgid postqueue never touched their config or map"
like "$(cat "$T/nobody.strace")" 'open.*"/etc/onionmx/onionmx\.conf"' "it read /etc/onionmx/onionmx.conf instead"
before_direct=$(sink_count direct)
out=$(printf 'Subject: from-nobody\n\nhello\n' | as_nobody "$T/sendmail.strace" /usr/sbin/sendmail -f nobody@bounces.example user@u02.example)
# postdrop's own lines: after its successful execve, under its pid.
awk '/execve\("\/usr\/sbin\/postdrop".* = 0$/ { p[$1] = 1; next } ($1 in p)' "$T/sendmail.strace" >"$T/postdrop.strace"
[ -s "$T/postdrop.strace" ]
ok $? "sendmail as nobody ran the setgid postdrop"
unlike "$(cat "$T/postdrop.strace")" "theirs" "strace: postdrop, given their ONIONMX_CONF, never touched their config or map"
like "$(cat "$T/postdrop.strace")" 'open.*"/etc/onionmx/onionmx\.conf"' "postdrop read /etc/onionmx/onionmx.conf instead"
like "$(grep -v "^$(awk '/execve\("\/usr\/sbin\/postdrop".* = 0$/ { print $1; exit }' "$T/sendmail.strace") " "$T/sendmail.strace")" \
	"open.*\"$T/theirs\.conf\"" "control: sendmail itself (not set-id) does read their ONIONMX_CONF"
wait_for 20 count_at_least direct $((before_direct + 1))
is "$(sink_count direct)" $((before_direct + 1)) "nobody's message was delivered"
cp /usr/sbin/postqueue "$T/postqueue-not-setgid"
chmod 755 "$T/postqueue-not-setgid"
out=$(as_nobody "$T/control.strace" "$T/postqueue-not-setgid" -p)
like "$(cat "$T/control.strace")" "open.*\"$T/theirs\.conf\"" \
	"control: a postqueue without setgid does read \$ONIONMX_CONF (so the strace test can fail)"

# --- What must never happen, over the whole run.
scenario_never
# (but for the control above: showq refuses a postqueue that is not setgid postdrop)
unlike "$(pf_log | grep -v 'fatal: Connect to the Postfix showq service: Permission denied')" \
	"(fatal|panic|warning):" "Postfix logged no warning, fatal error or panic"
# (The setgid postqueue and postdrop run as nobody above cannot write it: they
# keep a private cache quietly.)
unlike "$(grep 'onionmx:' "$SYSLOG")" "cache" "the library never complained about the discovery cache"

# Control: without the library, Postfix's own MX lookup and connect (its
# posttls-finger, with the same DNS code as smtp) would use the clearnet MX.
out=$(/usr/sbin/posttls-finger -l none m01.example 2>&1)
like "$out" "Connected to mx\.mapped\.example\[(127\.0\.0|198\.18\.0)\.20\]:25" \
	"control: without onionmx, Postfix's code goes to m01.example's clearnet MX"
echo "# $(grep -c 'onionmx:' "$SYSLOG") library lines in Postfix's log"
echo "# postfix.sh took $SECONDS s"
done_testing
