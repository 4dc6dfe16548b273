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

# Installs the library as "make install" would, mode 4755 in the directory ld.so
# trusts in secure mode, and gives the namespace its own /etc/onionmx - through
# overlays private to this mount namespace, so the host is untouched.
install_in_namespace() {
	local d
	for d in /usr/lib/x86_64-linux-gnu /etc; do
		local tag=${d//\//_}
		mkdir -p "$T/ovl$tag/upper" "$T/ovl$tag/work"
		mount -t overlay overlay -o "lowerdir=$d,upperdir=$T/ovl$tag/upper,workdir=$T/ovl$tag/work" "$d" ||
			return 1
	done
	# The overlay over /etc hides the namespace's resolv.conf and hosts: bind again.
	mount --bind "$T/resolv.conf" /etc/resolv.conf
	mount --bind "$T/hosts" /etc/hosts
	install -m 4755 "$LIB" /usr/lib/x86_64-linux-gnu/libonionmx.so
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
