#!/bin/bash
# What the library adds to every process start, in system calls (strace): the
# exact list, each with its cause, so that a new one is a decision and not an
# accident. /bin/true with a 1-domain map, as the bench's start-up row runs it.
# The library's own calls are those after ld.so has finished loading (its
# munmap of /etc/ld.so.cache) and before exit_group; the control without the
# library makes none there.
. "$(dirname "$0")/../lib.sh"
if [ "${SAN:-}" = 1 ]; then
	echo "ok 1 - # SKIP an ASan build's start-up is the ASan runtime's"
	echo "1..1"
	exit 0
fi
command -v strace >/dev/null || {
	echo "ok 1 - # SKIP strace is not installed (tests/deps.sh installs it)"
	echo "1..1"
	exit 0
}
T=$(mktemp -d /tmp/onionmx-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T" # read by user nobody too
ONION1=$("$H/onion_gen" test-one)
echo "mapped.example $ONION1.onion" >"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null || exit 1
conf() { # conf NAME LINES...: a config with the map and LINES
	local name=$1
	shift
	{ printf 'socks = 127.0.0.1:9050\nmap = %s\n' "$T/domains.cdb"; printf '%s\n' "$@"; } >"$T/$name.conf"
}
conf stderr "log = stderr" "log_level = warning"
conf syslog "log_level = warning"
conf other "programs = /nonexistent/program"
conf true "programs = /bin/true /usr/bin/true"

# own_calls [VAR=VALUE...] [-- COMMAND...]: the calls made after ld.so's
# loading, one "name(first arguments)" a line, of COMMAND (/bin/true) started
# with only descriptors 0, 1 and 2 open (the test runner's others closed), in
# the environment VAR=VALUE..., as user $AS_USER if set.
own_calls() {
	local envs=() cmd=(/bin/true)
	while [ $# -gt 0 ]; do
		case $1 in --) shift; cmd=("$@"); break ;; *) envs+=(-E "$1") ;; esac
		shift
	done
	(
		for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
		exec strace -qq -o "$T/trace" ${AS_USER:+-u "$AS_USER"} "${envs[@]}" "${cmd[@]}" \
			</dev/null >/dev/null 2>"$T/stderr"
	)
	awk '/^munmap\(/ && !done { done = 1; next } done && !/^exit_group/ { print }' "$T/trace" |
		sed -E -e "s#$T/##g" -e 's/AT_FDCWD, //' \
			-e 's/^((openat|newfstatat|readlink)\([^,)]*(, "[^"]*")?).*/\1)/; t' \
			-e 's/^([a-z0-9_]+\([^,)]*).*/\1)/'
}
with_lib() { # with_lib CONF [VAR=VALUE...]: own_calls of /bin/true with the library and CONF
	local c=$1
	shift
	own_calls LD_PRELOAD="$LIB" ONIONMX_CONF="$T/$c.conf" "$@"
}

# Controls: without the library, nothing after ld.so's loading; with it, the
# trace shows what it reads.
is "$(own_calls)" "" "(control: /bin/true alone makes no call after ld.so's loading)"
like "$(with_lib stderr)" "openat\(\"stderr\.conf\"\)" "(control: the library's own calls are seen: it opens its config)"

# The whole list, log = stderr (the bench's configuration).
want_stderr='openat("stderr.conf")
newfstatat(3, "")
read(3)
close(3)
newfstatat(2, "")
newfstatat("/")
openat("domains.cdb")
newfstatat(3, "")
mmap(NULL)
openat("/proc/self/fd")
getdents64(4)
getpeername(0)
getpeername(1)
getdents64(4)
close(4)'
is "$(with_lib stderr)" "$want_stderr" "start-up calls, log = stderr: exactly the list below"
# Each one's cause:
#   openat, newfstatat, read, close    the config (fstat: a regular file, its size, and
#                       its owner where root's is required)
#   newfstatat(2)       log.c, with log = stderr: the identity of stderr at start-up (a line
#                       goes to fd 2 only while it is still that file); it also tells the
#                       scan below that fd 2 is no socket
#   newfstatat("/")     the root directory, to tell a chroot later (state.c chrooted())
#   openat, newfstatat, mmap           the map (one fstat: its size and identity)
#   openat /proc/self/fd, getdents64 until 0 (a short read may be a pending signal),
#   getpeername per inherited descriptor, close: the scan for inherited sockets
#   connected to a resolver (hook_dns.c); not stderr (stat'ed above, no socket), not
#   the library's own map descriptor

# log = syslog: stderr is not looked at; the scan examines fd 2 itself.
want_syslog=$(printf '%s\n' "$want_stderr" | sed -e '/^newfstatat(2/d' -e 's/stderr\.conf/syslog.conf/' \
	-e 's/^getpeername(1)$/getpeername(1)\ngetpeername(2)/')
is "$(with_lib syslog)" "$want_syslog" "start-up calls, log = syslog: stderr not stat'ed, fd 2 examined by the scan"

# The same calls with a map of 100,000 domains: start-up does not grow with the map.
awk -v o="$ONION1" 'BEGIN { for (i = 0; i < 100000; i++) printf "d%06d.example %s.onion\n", i, o }' >"$T/big"
"$MAPTOOL" "$T/big" >/dev/null || exit 1
sed "s#$T/domains.cdb#$T/big.cdb#" "$T/stderr.conf" >"$T/bigmap.conf"
is "$(with_lib bigmap)" "$(sed -e 's/stderr\.conf/bigmap.conf/' -e 's/domains\.cdb/big.cdb/' <<<"$want_stderr")" \
	"a map of 100,000 domains: the same calls"
ok $([ "$(stat -c %s "$T/big.cdb")" -gt 1000000 ] && echo 0 || echo 1) "(control: that map is over 1 MB)"

out=$(with_lib stderr)
for call in futex geteuid getuid getrandom brk fstatfs 'fstat\(' 'getpeername\(3\)'; do
	unlike "$out" "^$call" "no $call at start-up"
done
is "$(grep -cE '^(newfstatat|fstat)\(3' <<<"$out")" 2 "one fstat for the config, one for the map (not two)"

# Root is known from the auxiliary vector (AT_EUID); a process started as
# another user asks geteuid(), because it may have become root since (a root
# process reads an ONIONMX_CONF only if the file is root's).
out=$(AS_USER=nobody with_lib stderr)
like "$out" "^geteuid\(\)" "started as nobody with ONIONMX_CONF: geteuid() (it may have become root since)"
like "$out" "^openat\(\"/proc/self/fd\"\)" "(control: that run is traced to its end)"

# An inherited descriptor is still examined (the scan is not cut short).
out=$(with_lib stderr -- sh -c 'exec 5</dev/null; exec /bin/true')
like "$out" "^getpeername\(5\)" "an inherited descriptor (5) is examined by the scan"

# stderr is skipped only because the log found no socket there: a socket
# connected to a resolver as fd 2 (bash's /dev/udp connects it; nothing is
# sent) is examined like any other.
out=$(with_lib stderr -- bash -c 'exec 2<>/dev/udp/127.0.0.1/53 && exec /bin/true')
like "$out" "^getpeername\(2\)" "log = stderr, fd 2 a UDP socket connected to port 53: the scan examines it"

# A program the configuration leaves alone passes everything through: no map,
# no scan; a listed one gets both.
out=$(with_lib other)
like "$out" "^readlink\(\"/proc/self/exe\"" "(control: \"programs\" makes the library read which program this is)"
unlike "$out" "domains\.cdb|/proc/self/fd|getpeername" "an unlisted program: neither the map nor the descriptor scan"
out=$(with_lib true)
like "$out" "openat\(\"domains\.cdb\"\)" "a listed program opens the map"
like "$out" "openat\(\"/proc/self/fd\"\)" "and scans its inherited descriptors"
done_testing
