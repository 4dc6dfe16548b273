# Shared by the integration tests: TAP output, a private network namespace
# (loopback only, with its own resolv.conf and hosts), and the servers the tests
# talk to, each stopped by its recorded PID.
#
# Addresses in the namespace (all on lo):
#   127.0.0.1:53      dnsmasq, the real DNS server (queries logged)
#   127.0.0.1:9050    fake_socks, standing in for Tor's SOCKS port
#   127.0.0.20:25     the clearnet MX of mapped.example: must never see a connection
#   127.0.0.30:25     the MX of plain.example (unmapped): direct delivery
#   127.0.0.40:25     the onion MX sink, reached only through the SOCKS server

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
O=${O:-.}
case $O in /*) B=$O ;; *) B=$TOP/$O ;; esac
B=$(cd "$B" && pwd -P)
LIB=$B/shim/libonionmx.so
ONIONMX=$B/tools/onionmx
MAPTOOL=$B/tools/onionmx-map
H=$B/tests/helpers

T_N=0
T_FAIL=0

ok() { # ok STATUS DESCRIPTION: STATUS 0 passes
	local status=$1
	shift
	T_N=$((T_N + 1))
	if [ "$status" = 0 ]; then
		echo "ok $T_N - $*"
	else
		echo "not ok $T_N - $*"
		T_FAIL=$((T_FAIL + 1))
	fi
}

is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
	fi
}

like() { # like TEXT EXTENDED-REGEX DESCRIPTION
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "$1" | sed 's/^/#   got: /' | head -20
		printf '#   want match: %s\n' "$2"
	fi
}

unlike() { # unlike TEXT EXTENDED-REGEX DESCRIPTION
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 1 "$3"
		printf '%s\n' "$1" | grep -E -- "$2" | sed 's/^/#   matched: /' | head -5
	else
		ok 0 "$3"
	fi
}

done_testing() {
	echo "1..$T_N"
	[ "$T_FAIL" = 0 ]
}

# dir_fds_outside PID: the directories PID holds descriptors of (O_PATH ones
# included) that lie outside its root directory (every one, for a process not
# chrooted), one "FD PATH" a line.
dir_fds_outside() {
	local root fd path
	root=$(readlink "/proc/$1/root")
	for fd in /proc/"$1"/fd/*; do
		[ "$(stat -L -c %F "$fd" 2>/dev/null)" = directory ] || continue
		path=$(readlink "$fd")
		if [ "$root" != / ]; then
			case $path in "$root" | "$root"/*) continue ;; esac
		fi
		echo "${fd##*/} $path"
	done
}

# Re-runs the calling script in a new network and mount namespace, then sets up
# loopback, resolv.conf and hosts there, and a scratch directory $T.
# OMX_UNSHARE_EXTRA adds namespaces (the MTA tests add --pid --mount-proc --uts).
enter_netns() {
	if [ -z "${OMX_IN_NETNS:-}" ]; then
		# shellcheck disable=SC2086
		OMX_IN_NETNS=1 exec unshare --net --mount --fork ${OMX_UNSHARE_EXTRA:-} bash "$0" "$@"
	fi
	mount --make-rprivate / 2>/dev/null
	ip link set lo up
	T=$(mktemp -d /tmp/onionmx-test.XXXXXX)
	chmod 755 "$T"
	echo "nameserver 127.0.0.1" >"$T/resolv.conf"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$T/hosts"
	mount --bind "$T/resolv.conf" /etc/resolv.conf
	mount --bind "$T/hosts" /etc/hosts
	PIDS=()
	trap cleanup EXIT
}

# True while PID runs (a zombie waiting for a slow init to reap it does not).
alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_pid() { # stop_pid PID: TERM, a short wait, then KILL
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do alive "$1" || return 0; sleep 0.05; done
	kill -9 "$1" 2>/dev/null
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	[ -n "${T:-}" ] && rm -rf "$T"
}

wait_pidfile() { # wait_pidfile FILE: records the daemon's PID once it is listening
	for _ in $(seq 100); do
		if [ -s "$1" ]; then
			PIDS+=("$(cat "$1")")
			return 0
		fi
		sleep 0.05
	done
	echo "# $1 never appeared" >&2
	return 1
}

# The real DNS server: MX records for every test domain, both with clearnet MX
# hosts; every query it receives goes to $T/dns.log.
start_dns() {
	dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
		--listen-address=127.0.0.1 --bind-interfaces --port=53 --local=/example/ \
		--log-queries --log-facility="$T/dns.log" --pid-file="$T/dnsmasq.pid" \
		--mx-host=mapped.example,mx.mapped.example,10 \
		--host-record=mx.mapped.example,127.0.0.20 \
		--host-record=mapped.example,127.0.0.20 \
		--mx-host=sub.wild.example,mx.mapped.example,10 \
		--mx-host=plain.example,mx.plain.example,10 \
		--host-record=mx.plain.example,127.0.0.30 \
		"$@" || return 1
	wait_pidfile "$T/dnsmasq.pid"
}

# Queries the DNS server has seen, one "TYPE NAME" a line.
dns_queries() {
	sed -n 's/.*query\[\([A-Z0-9]*\)\] \([^ ]*\) from.*/\1 \2/p' "$T/dns.log" 2>/dev/null
}

start_sink() { # start_sink NAME HOST:PORT: an SMTP sink keeping mail in $T/NAME/
	mkdir -p "$T/$1"
	"$H/smtp_sink" -l "$2" -d "$T/$1" -n "$1" -L "$T/$1.log" -p "$T/$1.pid" || return 1
	wait_pidfile "$T/$1.pid"
}

sink_count() { # messages the sink NAME has received
	find "$T/$1" -name '*.eml' 2>/dev/null | wc -l
}

sink_connections() {
	grep -c CONNECT "$T/$1.log" 2>/dev/null || true
}

start_socks() { # start_socks MODE [ARGS...]: the stand-in for Tor on 127.0.0.1:9050
	"$H/fake_socks" -l 127.0.0.1:9050 -m "$@" -L "$T/socks.log" -p "$T/socks.pid" || return 1
	wait_pidfile "$T/socks.pid"
}

stop_socks() {
	local pid
	pid=$(cat "$T/socks.pid" 2>/dev/null) || return 0
	stop_pid "$pid"
	rm -f "$T/socks.pid"
}

# A map and config: mapped.example -> ONION1, .wild.example -> ONION2:2525.
setup_map() {
	ONION1=$("$H/onion_gen" test-one)
	ONION2=$("$H/onion_gen" test-two)
	ONION_UNMAPPED=$("$H/onion_gen" test-unmapped)
	cat >"$T/domains" <<EOM
# test map
mapped.example $ONION1.onion
.wild.example  $ONION2.onion:2525
EOM
	"$MAPTOOL" "$T/domains" >/dev/null || return 1
	cat >"$T/onionmx.conf" <<EOM
socks = 127.0.0.1:9050
map = $T/domains.cdb
timeout = ${OMX_TIMEOUT:-5}
log = stderr
log_level = info
EOM
	export ONIONMX_CONF=$T/onionmx.conf
}

# Under SAN=1 the library is ASan-built: the ASan runtime must be preloaded first.
if [ "${SAN:-}" = 1 ]; then
	SAN_PRELOAD="$(${CC:-gcc} -print-file-name=libasan.so) $(${CC:-gcc} -print-file-name=libubsan.so)"
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
else
	SAN_PRELOAD=
fi
PRELOAD="${SAN_PRELOAD:+$SAN_PRELOAD }$LIB"

shim() { # shim COMMAND...: run COMMAND with the library preloaded
	LD_PRELOAD="$PRELOAD" "$@"
}

wrapper() { # wrapper ARGS...: run the onionmx wrapper (which preloads the library)
	LD_PRELOAD="$SAN_PRELOAD" "$ONIONMX" "$@"
}

# The directory make install puts the library in: the multiarch one ld.so
# trusts in secure mode (/usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu).
sys_libdir() {
	[ -n "${SYS_LIBDIR:-}" ] || SYS_LIBDIR=$(make -s --no-print-directory -C "$TOP" print-libdir)
	echo "$SYS_LIBDIR"
}

# Installs the library as "make install" would, mode 4755 in the directory ld.so
# trusts in secure mode, and gives the namespace its own /etc/onionmx - through
# overlays private to this mount namespace, so the host is untouched.
# INSTALL_LIB and INSTALL_DIR: another build of the library, another directory
# (called again, it installs there too).
install_in_namespace() {
	local d lib=${INSTALL_LIB:-$LIB} dir=${INSTALL_DIR:-$(sys_libdir)}
	[ -d "$dir" ] || { echo "# $dir does not exist on this host" >&2; return 1; }
	for d in "$dir" /etc; do
		local tag=${d//\//_}
		[ -d "$T/ovl$tag" ] && continue # already an overlay
		mkdir -p "$T/ovl$tag/upper" "$T/ovl$tag/work"
		mount -t overlay overlay -o "lowerdir=$d,upperdir=$T/ovl$tag/upper,workdir=$T/ovl$tag/work" "$d" ||
			return 1
		# The overlay over /etc hides the namespace's resolv.conf and hosts: bind again.
		if [ "$d" = /etc ]; then
			mount --bind "$T/resolv.conf" /etc/resolv.conf
			mount --bind "$T/hosts" /etc/hosts
		fi
	done
	install -m 4755 "$lib" "$dir/libonionmx.so"
	mkdir -p /etc/onionmx
}

# skip_under_san REASON: for tests of the installed library (setuid programs,
# /etc/ld.so.preload), where an ASan build cannot load; the plain run has them.
skip_under_san() {
	if [ "${SAN:-}" = 1 ]; then
		echo "ok 1 - # SKIP $*"
		echo "1..1"
		exit 0
	fi
}

# ---------------------------------------------------------------------------
# DNS for SRV discovery (_onion-mx._tcp.DOMAIN): a validating resolver in front
# of an authoritative server with zones signed at test time, a hostile server
# for the reply parser, and query counting across every server here.
#
# Addresses (on lo, beside those at the top):
#   127.0.0.1:53    unbound, validating (start_dnssec_dns -a ADDR), instead of
#                   dnsmasq; or evil_dns.pl (start_evil_dns ADDR)
#   127.0.0.53:53   nsd, authoritative for the test zones (start_dnssec_dns -A)
#
# Zones served by nsd, always present (more with "zone NAME MODE" lines):
#   secure.test     MODE secure: signed, its DS is unbound's trust anchor: AD=1
#   bogus.test      MODE bogus: signed, trust anchor, but the RRSIG of every SRV
#                   RRset corrupted after signing: SERVFAIL (+cd gives the data,
#                   exactly as written); its other records validate
#   insecure.test   MODE insecure: unsigned, domain-insecure: AD=0
#   MODE expired:   signed, trust anchor, every signature expired: all SERVFAIL
# SOA, NS and ns.ZONE A are added to each; names outside the zones are REFUSED
# at once (unbound never tries the root), *.onion and other *.test NXDOMAIN.
# Note: glibc clears AD in replies unless resolv.conf says "options trust-ad"
# (echo 'options trust-ad' >>"$T/resolv.conf"); dig shows the resolver's bit.

# start_dnssec_dns [-a ADDR] [-A AUTH_ADDR] [LINE...|-]: each LINE (or each
# line of stdin, for "-") is a record "OWNER [TTL] [IN] TYPE RDATA" with a fully
# qualified OWNER (trailing dot optional) that picks its zone by suffix, write
# names in RDATA with a trailing dot; or "zone NAME MODE"; "#" lines ignored.
#   start_dnssec_dns - <<EOM
#   _onion-mx._tcp.a.secure.test. SRV 0 5 25 $ONION1.onion.
#   a.secure.test. MX 10 mx.secure.test.
#   mx.secure.test. A 127.0.0.30
#   zone example insecure
#   plain.example. MX 10 mx.plain.example.
#   EOM
# Logs: $T/unbound.log (every query received), $T/nsd.log; files in $T/dnssec/.
start_dnssec_dns() {
	local addr=127.0.0.1 auth=127.0.0.53 opt OPTIND=1 line
	while getopts a:A: opt; do
		case $opt in
		a) addr=$OPTARG ;;
		A) auth=$OPTARG ;;
		*) return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	stop_dnssec_dns # a second start replaces the zones (and empties the cache)
	local d=$T/dnssec
	rm -rf "$d"
	mkdir -p "$d" || return 1
	for line in "$@"; do
		if [ "$line" = - ]; then cat; else printf '%s\n' "$line"; fi
	done >"$d/input"
	# Sorts the lines into $d/ZONE.zone (after a generated head); $d/zones
	# lists "ZONE MODE".
	awk -v d="$d" -v auth="$auth" '
		function head(z) {
			f = d "/" z ".zone"
			printf "$ORIGIN %s.\n$TTL 300\n", z >f
			printf "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n", z, z >>f
			printf "@ NS ns.%s.\nns.%s. A %s\n", z, z, auth >>f
		}
		BEGIN { n = split("secure.test secure bogus.test bogus insecure.test insecure", a, " ")
			for (i = 1; i < n; i += 2) mode[a[i]] = a[i + 1] }
		/^[ \t]*(#|$)/ { next }
		$1 == "zone" {
			z = tolower($2); sub(/\.$/, "", z)
			if ($3 !~ /^(secure|bogus|expired|insecure)$/) {
				print "start_dnssec_dns: bad zone line: " $0 >"/dev/stderr"; bad = 1; next }
			mode[z] = $3; next
		}
		{ rec[++nrec] = $0 }
		END {
			for (z in mode) { head(z); print z, mode[z] >(d "/zones") }
			for (r = 1; r <= nrec; r++) {
				line = rec[r]; split(line, fld, " ")
				owner = tolower(fld[1]); sub(/\.$/, "", owner)
				best = ""
				for (z in mode)
					if ((owner == z || substr(owner, length(owner) - length(z)) == "." z) &&
					    length(z) > length(best)) best = z
				if (best == "") {
					print "start_dnssec_dns: no zone for: " line >"/dev/stderr"; bad = 1; continue }
				sub(/^[ \t]*[^ \t]+/, owner ".", line)
				print line >>(d "/" best ".zone")
			}
			exit bad
		}' "$d/input" || return 1
	local zone mode key stubs="" anchors=""
	local inc=-1hour exp=+30days
	while read -r zone mode; do
		stubs+="local-zone: \"$zone.\" transparent
stub-zone:
	name: \"$zone.\"
	stub-addr: $auth@53
server:
"
		if [ "$mode" = insecure ]; then
			anchors+="	domain-insecure: \"$zone.\"
"
			cp "$d/$zone.zone" "$d/$zone.db"
			continue
		fi
		[ "$mode" = expired ] && inc=-60days exp=-7days # beyond unbound's 1-day skew
		key=$(cd "$d" && ldns-keygen -a ECDSAP256SHA256 -k "$zone") || return 1
		(cd "$d" && ldns-signzone -i "$(date -u -d "$inc" +%Y%m%d%H%M%S)" \
			-e "$(date -u -d "$exp" +%Y%m%d%H%M%S)" -f "$zone.db" "$zone.zone" "$key") || return 1
		if [ "$mode" = bogus ]; then
			# The first base64 character of each SRV signature changed: the
			# data served is as written, its signature no longer matches.
			awk 'BEGIN { OFS = "\t" }
				$4 == "RRSIG" && $5 == "SRV" { $NF = (substr($NF, 1, 1) == "A" ? "B" : "A") substr($NF, 2) }
				{ print }' "$d/$zone.db" >"$d/$zone.db.tmp" && mv "$d/$zone.db.tmp" "$d/$zone.db"
		fi
		anchors+="	trust-anchor-file: \"$d/$key.ds\"
"
		inc=-1hour exp=+30days
	done <"$d/zones"
	{
		printf 'server:\n\tip-address: %s@53\n\tusername: ""\n\tchroot: ""\n' "$auth"
		printf '\tzonesdir: "%s"\n\tdatabase: ""\n\tzonelistfile: "%s/zone.list"\n' "$d" "$d"
		printf '\txfrdfile: "%s/xfrd.state"\n\txfrdir: "%s"\n\tpidfile: "%s/nsd.pid"\n' "$d" "$d" "$T"
		printf '\tlogfile: "%s/nsd.log"\n\tserver-count: 1\n\tverbosity: 1\n' "$T"
		printf '\tdo-ip6: no\n\treuseport: no\n\thide-version: yes\n'
		printf 'remote-control:\n\tcontrol-enable: no\n'
		while read -r zone mode; do
			printf 'zone:\n\tname: "%s."\n\tzonefile: "%s/%s.db"\n' "$zone" "$d" "$zone"
		done <"$d/zones"
	} >"$d/nsd.conf"
	cat >"$d/unbound.conf" <<EOM
server:
	interface: $addr@53
	port: 53
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "$d"
	pidfile: "$T/unbound.pid"
	use-syslog: no
	logfile: "$T/unbound.log"
	verbosity: 1
	log-queries: yes
	log-servfail: yes
	val-log-level: 2
	num-threads: 1
	so-reuseport: no
	qname-minimisation: no
	trust-anchor-signaling: no
	root-key-sentinel: no
	local-zone: "." refuse
$anchors$stubs
remote-control:
	control-enable: no
EOM
	nsd -c "$d/nsd.conf" || return 1
	wait_pidfile "$T/nsd.pid" || return 1
	unbound -c "$d/unbound.conf" || return 1
	wait_pidfile "$T/unbound.pid"
}

stop_dnssec_dns() { # both servers; logs stay, a new start_dnssec_dns appends
	local f pid
	for f in "$T/unbound.pid" "$T/nsd.pid"; do
		pid=$(cat "$f" 2>/dev/null) || continue
		stop_pid "$pid"
		rm -f "$f"
	done
}

# start_evil_dns [ADDR[:PORT]] [ONION]: tests/helpers/evil_dns.pl (default
# 127.0.0.1:53), crafted replies chosen by the first label after
# _onion-mx._tcp. (see its header); ONION, a 56-character label, is its valid
# onion. Queries go to $T/evil_dns.log.
start_evil_dns() {
	local addr=${1:-127.0.0.1}
	"$TOP/tests/helpers/evil_dns.pl" -l "$addr" -L "$T/evil_dns.log" -p "$T/evil_dns.pid" ${2:+-o "$2"} || return 1
	wait_pidfile "$T/evil_dns.pid"
}

stop_evil_dns() {
	local pid
	pid=$(cat "$T/evil_dns.pid" 2>/dev/null) || return 0
	stop_pid "$pid"
	rm -f "$T/evil_dns.pid"
}

# dns_query_log [SERVER...]: queries received, one "TYPE NAME" a line (NAME as
# asked, no trailing dot), from dnsmasq, unbound and evil (default: all three).
dns_query_log() {
	local s servers=("$@")
	[ $# = 0 ] && servers=(dnsmasq unbound evil)
	for s in "${servers[@]}"; do
		case $s in
		dnsmasq) dns_queries ;;
		unbound) sed -n 's/.* info: [0-9a-f.:][0-9a-f.:]* \([^ ]*\) \([A-Z0-9]*\) [A-Z0-9]*$/\2 \1/p' \
			"$T/unbound.log" 2>/dev/null | sed 's/\.$//' ;;
		evil) awk '!/^#/ { print $2, $3 }' "$T/evil_dns.log" 2>/dev/null ;;
		esac
	done
}

# dns_query_count NAME TYPE [SERVER...]: how many NAME/TYPE queries the servers
# received (case-insensitive, trailing dot ignored).
dns_query_count() {
	local name=${1%.} type=$2
	shift 2
	dns_query_log "$@" | awk -v n="$name" -v t="$type" \
		'toupper($1) == toupper(t) && tolower($2) == tolower(n) { c++ } END { print c + 0 }'
}

# ---------------------------------------------------------------------------
# The README's client table (tests/matrix_table.sh, make readme-table).
# matrix_row CLIENT QUERY RESULT: one cell, printed as "# matrix: ..." (the
# generator reads these lines from tests/run.sh's output) and kept for
# matrix_readme_check.
MATRIX_ROWS=
matrix_row() {
	echo "# matrix: $1 | $2 | $3"
	MATRIX_ROWS+="# matrix: $1 | $2 | $3"$'\n'
}

# matrix_readme_check [SKIP-REASON]: one check that the README's block for
# this script is exactly what this run's rows render (so the table cannot
# drift); skipped with SKIP-REASON when given (a client missing here: the
# rows are incomplete and make readme-table will not use them), and while
# make readme-table rewrites the table from this very run.
matrix_readme_check() {
	local script want got
	script=$(basename "$0")
	if [ -n "${1:-}" ]; then
		echo "# matrix-incomplete: $1" # make readme-table keeps the README's block
		ok 0 "# SKIP the README's table is not compared: $1"
	elif [ -n "${OMX_MATRIX_UPDATE:-}" ]; then
		ok 0 "# SKIP make readme-table rewrites the README's table from this run"
	else
		want=$(printf '%s' "$MATRIX_ROWS" | bash "$TOP/tests/matrix_table.sh" render "$script")
		got=$(bash "$TOP/tests/matrix_table.sh" block "$script" "$TOP/README")
		if [ "$want" = "$got" ]; then
			ok 0 "the README's client table for $script is this run's"
		else
			ok 1 "the README's client table for $script is this run's: run \"make readme-table\" and commit README"
			diff <(printf '%s\n' "$got") <(printf '%s\n' "$want") | sed 's/^/#   /'
		fi
	fi
}
