# Shared by the real-MTA tests (tests/integ/postfix.sh, exim.sh, opensmtpd.sh,
# tor_postfix.sh, tor_exim.sh, tor_opensmtpd.sh, whose common scenarios are in
# tests/mta/scenarios.sh) and tests/demo.sh: a real Debian MTA started as its service unit
# starts it, with LD_PRELOAD=libonionmx.so added, in a private network, mount,
# PID and UTS namespace. Source after tests/lib.sh.
#
# The host stays untouched: /etc, /usr, /var, /run and /dev are overlays whose
# writes go to $T/ovl (the library is installed mode 4755 in
# the multiarch directory (/usr/lib/x86_64-linux-gnu) only there, Postfix is unpacked into /usr, /etc and
# /var only there). Every process started lives in the PID namespace, so none
# survives the test: the kernel ends them all when the script (its PID 1) exits.
#
# Addresses in the namespace (127.0.0.1/8 and 198.18.0.20, .30, .31 on lo;
# Debian's Exim ignores MX hosts in 127/8, so the MX hosts an MTA must or could
# use have a 198.18.0.0/15 address, the RFC 2544 test range, on this lo only):
#   127.0.0.1:53        dnsmasq, the real DNS server (queries logged)
#   127.0.0.1:9050      fake_socks, standing in for Tor, relays to the onion sink
#   127.0.0.1:25        the MTA under test (Postfix smtpd, or the Exim daemon)
#   127.0.0.40:25       the onion sink ("onion"), reached only through SOCKS
#   127.0.0.20:25       clearnet MX of the mapped domains ("clearnet"), and
#   198.18.0.20:25      the same MX's second address ("clearnet2"): both empty
#   198.18.0.30:25      the MX of the unmapped domains ("direct")
#   198.18.0.31:25      the MX of bounces.example, the test sender's domain
#                       ("bounces"): a bounce would land here
#   127.0.0.98:53       evil_dns.pl (mta_discovery): the failing DNS server of
#                       servfail.example's SRV name
#
# Domains: m01..m50.example and mapped.example are mapped (5 onions), each with
# the clearnet MX above in DNS; u01..u50.example, moved.example and late.example
# are unmapped, with the direct MX (moved.example is added to the map during the
# test, late.example by postfix.sh's optional measurement).
# For onion MX discovery (mta_discovery): d01.example is in no map but
# publishes "_onion-mx._tcp.d01.example SRV 0 5 2525 $ONION_D01.onion."; its
# clearnet MX is the mapped domains' one (which must never see a connection),
# and so is servfail.example's, whose SRV lookup fails (SERVFAIL).
#
# Through real Tor (tests/integ/tor_exim.sh, tor_postfix.sh, tests/demo.sh):
# no fake_socks; the private Tor network of tests/tornet.sh runs in the same
# namespace, its client tor's SOCKS port is 127.0.0.1:9050, and its onion 1
# serves port 25 from the onion sink. mta_map_tor maps mapped.example to it.

MTA_HOSTNAME=mta.test.example
MTA_LIBDIR=$(sys_libdir) # where make install puts the library
MTA_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MTA_STOP=()             # commands that stop the MTA (run by mta_cleanup)
SYSLOG=                 # the syslog receiver's file: the MTA's own log

# Under SAN=1 the library is built with ASan, whose runtime would have to come
# first in every process, the setuid ones included: the MTA tests use the
# ordinary build, so there is nothing new to run under SAN=1.
mta_skip_san() {
	if [ "${SAN:-}" = 1 ]; then
		echo "ok 1 - # SKIP real MTAs load the installed (non-ASan) library; run without SAN=1"
		echo "1..1"
		exit 0
	fi
}

# Enters the namespaces (re-running the script), names the host and adds the
# addresses above. Call as: mta_enter "$@"
mta_enter() {
	OMX_UNSHARE_EXTRA="--pid --mount-proc --uts" enter_netns "$@"
	trap mta_cleanup EXIT
	if [ "$$" != 1 ]; then
		echo "# not PID 1 of a private PID namespace" >&2
		exit 1
	fi
	hostname "$MTA_HOSTNAME"
	ip addr add 198.18.0.20/32 dev lo
	ip addr add 198.18.0.30/32 dev lo
	ip addr add 198.18.0.31/32 dev lo
	# No route out: a synthetic address that reached the kernel fails at once.
	ip route add unreachable 240.0.0.0/4 2>/dev/null
}

# mta_overlay DIR [TOP]: DIR becomes an overlay of itself (and of TOP above it,
# if given), writable, with its changes in $T/ovl.
mta_overlay() {
	local dir=$1 top=${2:-} n
	n=$(printf '%s' "$dir" | tr / _)
	mkdir -p "$T/ovl/$n/u" "$T/ovl/$n/w"
	mount -t overlay "onionmx$n" \
		-o "lowerdir=${top:+$top:}$dir,upperdir=$T/ovl/$n/u,workdir=$T/ovl/$n/w" "$dir"
}

# mta_private_root [PKGROOT]: overlays over /etc, /usr, /var, /run and /dev; the
# files of an unpacked package under PKGROOT appear at their real paths.
mta_private_root() {
	local pkg=${1:-} d
	for d in /etc /usr /var; do
		if [ -n "$pkg" ] && [ -d "$pkg$d" ]; then
			mta_overlay "$d" "$pkg$d" || return 1
		else
			mta_overlay "$d" || return 1
		fi
	done
	mta_overlay /run || return 1
	# No systemd here: init scripts must not hand off to the host's systemctl.
	rm -rf /run/systemd
	# /dev: a private /dev/log (the syslog receiver's), fresh pts and shm.
	mta_overlay /dev || return 1
	mount -t tmpfs -o mode=1777 onionmx-shm /dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666,mode=620 onionmx-pts /dev/pts
	rm -f /dev/log
	# resolv.conf and hosts again: the overlay hides enter_netns' bind mounts.
	rm -f /etc/resolv.conf /etc/hosts /etc/mailname
	cp "$T/resolv.conf" /etc/resolv.conf
	printf '127.0.0.1 localhost %s mta\n::1 localhost ip6-localhost\n' "$MTA_HOSTNAME" >/etc/hosts
	echo "$MTA_HOSTNAME" >/etc/mailname
	echo "$MTA_HOSTNAME" >/etc/hostname
}

# start_syslog SOCKET...: the MTA's syslog, one file ($SYSLOG) for every socket.
start_syslog() {
	SYSLOG=$T/syslog
	perl "$TOP/tests/mta/syslogd.pl" "$SYSLOG" "$T/syslog.pid" "$@" || return 1
	wait_pidfile "$T/syslog.pid"
}

# Installs the library as make install does (mode 4755 where secure mode loads
# a bare LD_PRELOAD name from), and /etc/onionmx with the map below.
mta_install_onionmx() {
	# /etc/onionmx on a local file system of its own, as on a host: the overlay
	# that stands in for /etc here cannot show a chrooted process that its map
	# file was replaced (a lower layer's file keeps its link count), so the
	# library would defer every MX lookup in Postfix's smtp (README, Postfix).
	mkdir -p /etc/onionmx
	mount -t tmpfs -o mode=755 onionmx-etc /etc/onionmx || return 1
	# The README's step: make install (inside this namespace's overlays).
	make -s -C "$TOP" install PREFIX=/usr/local >/dev/null || return 1
	[ "$(stat -c %a "$MTA_LIBDIR/libonionmx.so")" = 4755 ] || return 1
	[ -s /etc/systemd/system/exim4.service.d/onionmx.conf ] || return 1
	ONIONS=()
	mapfile -t ONIONS < <("$H/onion_gen" mta 6)
	ONION1=${ONIONS[0]}
	ONION_MOVED=${ONIONS[5]}
	{
		echo "# onionmx test map: m01..m50.example over five onions"
		echo "mapped.example ${ONION1}.onion"
		for i in $(seq -w 1 50); do
			echo "m$i.example ${ONIONS[$((10#$i % 5))]}.onion"
		done
	} >/etc/onionmx/domains
	"$MAPTOOL" /etc/onionmx/domains >/dev/null || return 1
	cat >/etc/onionmx/onionmx.conf <<EOM
socks = 127.0.0.1:9050
map = /etc/onionmx/domains.cdb
timeout = 10
log = syslog
log_level = info
EOM
	chmod 644 /etc/onionmx/onionmx.conf /etc/onionmx/domains /etc/onionmx/domains.cdb
}

# mta_discovery: discovery on (discover = srv) in the installed config, with the
# shared cache in a root-owned directory (the library refuses, in the setuid
# exim4 and setgid postdrop, a cache not owned by root), and the server that
# answers SERVFAIL for servfail.example's SRV name. Before the MTA starts: its
# daemons open the cache when they load the library, before any chroot.
DISCOVERY_CACHE=/var/lib/onionmx/discovery.cache
mta_discovery() { # mta_discovery [ONION]: ONION is what good.example publishes
	install -d -m 755 -o root -g root "${DISCOVERY_CACHE%/*}" || return 1
	rm -f "$DISCOVERY_CACHE"
	printf 'discover = srv\ncache = %s\n' "$DISCOVERY_CACHE" >>/etc/onionmx/onionmx.conf
	start_evil_dns 127.0.0.98 "$1"
}

# onion_of DOMAIN: the onion (without .onion) the test map gives DOMAIN.
onion_of() {
	"$MAPTOOL" -q "$1" /etc/onionmx/domains.cdb | grep -o '[a-z2-7]\{56\}\.onion' | head -1 | sed 's/\.onion$//'
}

# The DNS server with MX records for every test domain (lib.sh's start_dns adds
# its own: mapped.example -> mx.mapped.example, 127.0.0.20), and the SRV records
# of discovery. Its own records get a TTL of 300 s (dnsmasq's default is 0),
# so a discovered SRV answer is cached for the whole test: one query per TTL
# is what the tests count. dnsmasq forwards _onion-mx._tcp.servfail.example and
# _onion-mx._tcp.good.example to 127.0.0.98, where mta_discovery's server answers
# SERVFAIL at once for the first, and SRV 0 5 25 ONION for the second (the tests
# through real Tor give it the Tor network's onion 2).
mta_start_dns() {
	ONION_D01=$("$H/onion_gen" mta-discovered)
	local args=(--local-ttl=300
		--srv-host="_onion-mx._tcp.d01.example,$ONION_D01.onion,2525,0,5"
		--mx-host=d01.example,mx.mapped.example,10
		--server=/_onion-mx._tcp.servfail.example/127.0.0.98
		--mx-host=servfail.example,mx.mapped.example,10
		--server=/_onion-mx._tcp.good.example/127.0.0.98
		--mx-host=good.example,mx.mapped.example,10
		--host-record=mx.mapped.example,198.18.0.20
		--host-record=mx.direct.example,198.18.0.30
		--mx-host=moved.example,mx.direct.example,10
		--mx-host=late.example,mx.direct.example,10
		--host-record=mx.bounces.example,198.18.0.31
		--mx-host=bounces.example,mx.bounces.example,10
		--host-record="$MTA_HOSTNAME",127.0.0.1)
	local i
	for i in $(seq -w 1 50); do
		args+=(--mx-host="m$i.example,mx.mapped.example,10" --mx-host="u$i.example,mx.direct.example,10")
	done
	start_dns "${args[@]}" "$@"
}

mta_start_servers() {
	start_sink onion 127.0.0.40:25 || return 1
	start_sink clearnet 127.0.0.20:25 || return 1
	start_sink clearnet2 198.18.0.20:25 || return 1
	start_sink direct 198.18.0.30:25 || return 1
	start_sink bounces 198.18.0.31:25 || return 1
	start_socks relay -r 127.0.0.40:25 || return 1
}

# The sinks for the tests through real Tor: the onion sinks behind onions 1 and
# 2, the clearnet MX of mapped.example (both addresses), the unmapped domains'
# MX and the bounces domain's MX. No SOCKS stand-in: the client tor listens on
# 127.0.0.1:9050.
mta_start_tor_sinks() {
	start_sink onion 127.0.0.40:25 || return 1
	start_sink onion2 127.0.0.41:25 || return 1 # onion 2's (tornet_start reaches both)
	start_sink clearnet 127.0.0.20:25 || return 1
	start_sink clearnet2 198.18.0.20:25 || return 1
	start_sink direct 198.18.0.30:25 || return 1
	start_sink bounces 198.18.0.31:25 || return 1
}

# After mta_install_onionmx and tornet_start: the map holds one domain,
# mapped.example, whose onion MX is the private network's onion 1. The timeout
# covers a first connection that must build its circuits.
mta_map_tor() {
	cat >/etc/onionmx/domains <<EOM
# onionmx map: mapped.example's onion MX is the private Tor network's onion 1
mapped.example $TOR_ONION1.onion
EOM
	"$MAPTOOL" /etc/onionmx/domains >/dev/null || return 1
	sed -i 's/^timeout = .*/timeout = 30/' /etc/onionmx/onionmx.conf
	ONION1=$TOR_ONION1
}

# mta_tor_start: for the tests through real Tor (after tests/tornet.sh and
# start_syslog): DNS, the sinks, the private Tor network (a failure to start
# it ends the script with a failed check), and the library installed with the
# map of mta_map_tor.
mta_tor_start() {
	mta_start_dns || exit 1
	mta_start_tor_sinks || exit 1
	if ! tornet_start; then
		ok 1 "the private Tor network starts and its client reaches the onion services"
		done_testing
		exit 1
	fi
	ok 0 "the private Tor network starts and its client reaches the onion services (${TORNET_READY}s)"
	mta_install_onionmx || exit 1
	mta_map_tor || exit 1
}

# Debian's Exim as the tests run it: the host's queue, hints and logs stay out;
# debconf "internet site; mail is sent and received directly using SMTP",
# listening on loopback; mta_cleanup will stop it. mta_exim_start then starts
# it as exim4.service does, with LD_PRELOAD=libonionmx.so.
mta_exim_prepare() {
	MTA_STOP+=("env -i PATH=$MTA_PATH /etc/init.d/exim4 stop")
	rm -rf /var/spool/exim4/input/* /var/spool/exim4/msglog/* /var/spool/exim4/db/* /var/log/exim4/*
	sed -i "s/^dc_eximconfig_configtype=.*/dc_eximconfig_configtype='internet'/
		s/^dc_other_hostnames=.*/dc_other_hostnames=''/
		s/^dc_local_interfaces=.*/dc_local_interfaces='127.0.0.1 ; ::1'/" /etc/exim4/update-exim4.conf.conf
}

mta_exim_start() {
	env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /etc/init.d/exim4 start
}

# Debian's Postfix as the tests run it: its .deb (downloaded by tests/deps.sh)
# unpacked and laid over /etc, /usr and /var in place of mta_private_root, then
# set up as its postinst does; mta_cleanup will stop it. mta_postfix_start then
# starts it as postfix@-.service does, with LD_PRELOAD=libonionmx.so.
mta_postfix_deb() {
	ls "${POSTFIX_DEB_DIR:-/var/cache/onionmx}"/postfix_*_amd64.deb 2>/dev/null | head -1
}

# mta_postfix_deb_or_fail: sets DEB to Postfix's .deb, or ends the script with
# a failure saying how to get it (the tests whose point is Postfix).
mta_postfix_deb_or_fail() {
	DEB=$(mta_postfix_deb)
	if [ -z "$DEB" ]; then
		echo "not ok 1 - no postfix .deb in ${POSTFIX_DEB_DIR:-/var/cache/onionmx}: run sh tests/deps.sh"
		echo "1..1"
		exit 1
	fi
}

# mta_postfix_deb_or_skip: sets DEB to Postfix's .deb, or ends the script with
# a counted skip saying how to get it.
mta_postfix_deb_or_skip() {
	DEB=$(mta_postfix_deb)
	if [ -z "$DEB" ]; then
		echo "ok 1 - # SKIP no postfix .deb in ${POSTFIX_DEB_DIR:-/var/cache/onionmx} (sh tests/deps.sh downloads it)"
		echo "1..1"
		exit 0
	fi
}

mta_postfix_prepare() { # mta_postfix_prepare DEB
	mkdir -p "$T/pkg"
	dpkg -x "$1" "$T/pkg" || return 1
	mta_private_root "$T/pkg" || return 1
	MTA_STOP+=("env -i PATH=$MTA_PATH /usr/sbin/postmulti -i - -p stop")
	sh "$TOP/tests/mta/postfix-install.sh" "$MTA_HOSTNAME"
}

mta_postfix_start() {
	env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /usr/lib/postfix/configure-instance.sh - &&
		env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /usr/sbin/postmulti -i - -p start
}

# Debian's OpenSMTPD as the tests run it: its .deb (downloaded by tests/deps.sh)
# unpacked and laid over /etc, /usr and /var in place of mta_private_root, then
# set up as its postinst does (its own smtpd.conf: relay by MX); mta_cleanup
# will stop it. mta_opensmtpd_start then starts it as opensmtpd.service does
# (ExecStart=/usr/sbin/smtpd, Type=forking), with LD_PRELOAD=libonionmx.so.
mta_opensmtpd_deb_or_skip() { # sets DEB, or ends the script with a counted skip
	DEB=$(ls "${POSTFIX_DEB_DIR:-/var/cache/onionmx}"/opensmtpd_*_amd64.deb 2>/dev/null | head -1)
	if [ -z "$DEB" ]; then
		echo "ok 1 - # SKIP no opensmtpd .deb in ${POSTFIX_DEB_DIR:-/var/cache/onionmx} (sh tests/deps.sh downloads it)"
		echo "1..1"
		exit 0
	fi
}

mta_opensmtpd_prepare() { # mta_opensmtpd_prepare DEB
	mkdir -p "$T/pkg"
	dpkg -x "$1" "$T/pkg" || return 1
	mta_private_root "$T/pkg" || return 1
	MTA_STOP+=("kill \$(cat /run/smtpd.pid)")
	sh "$TOP/tests/mta/opensmtpd-install.sh" "$MTA_HOSTNAME"
}

mta_opensmtpd_start() {
	env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /usr/sbin/smtpd
}

# submit FILE [PER_CONNECTION]: sends the messages listed in FILE ("RCPT
# SUBJECT" a line) to the MTA at 127.0.0.1:25, a new SMTP session every
# PER_CONNECTION messages.
submit() {
	perl "$TOP/tests/mta/submit.pl" 127.0.0.1:25 "${2:-10}" <"$1"
}

# sink_subjects NAME: "SUBJECT RCPT" of every message at the sink, one a line.
sink_subjects() {
	local f
	for f in "$T/$1"/*.eml; do
		[ -e "$f" ] || continue
		awk 'BEGIN { s = ""; r = "" }
			/^X-Envelope-To: / { r = r (r == "" ? "" : ",") $2 }
			/^Subject: / { s = $2 }
			/^\r?$/ { exit }
			END { gsub(/[\r<>]/, "", r); gsub(/\r/, "", s); print s, r }' "$f"
	done
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
	local limit=$1 i
	shift
	for i in $(seq $((limit * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

count_at_least() { # count_at_least SINK N
	[ "$(sink_count "$1")" -ge "$2" ]
}

socks_hosts() { # the onions the SOCKS server was asked for, one a line
	sed -n 's/.*CONNECT host=\([^ ]*\) port=.*/\1/p' "$T/socks.log" 2>/dev/null
}

# Stops the MTA, then the servers, then every other process of the namespace
# (each by its PID; the namespace holds only what this script started).
mta_cleanup() {
	local cmd pid
	for cmd in "${MTA_STOP[@]}"; do
		eval "$cmd" >/dev/null 2>&1
	done
	# Our own servers first, gently (a tor killed with -9 would make bash say so).
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "$$" = 1 ]; then
		for pid in /proc/[0-9]*; do
			pid=${pid#/proc/}
			[ "$pid" = 1 ] || [ "$pid" = "$BASHPID" ] && continue
			kill -9 "$pid" 2>/dev/null
		done
	fi
	cleanup
}

# tor_stream_check: the client tor's stream events ($T/events, from
# tornet_events) show a stream to onion 1 that succeeded with onion 1's
# isolation credentials. Stops the event listener.
tor_stream_check() {
	succeeded() { tr -d '\r' <"$T/events" | grep -E "^650 STREAM [0-9]+ SUCCEEDED [0-9]+ $TOR_ONION1\.onion:25 "; }
	tornet_wait 5 succeeded >/dev/null
	tornet_events_stop
	like "$(succeeded)" "SOCKS_USERNAME=\"$TOR_ONION1\.onion\" SOCKS_PASSWORD=\"onionmx\"" \
		"the client tor carried the stream to onion 1, with onion 1's isolation credentials"
}
