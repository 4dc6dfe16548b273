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
conf dd "programs = /bin/dd /usr/bin/dd"

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
mmap(NULL)'
is "$(with_lib stderr)" "$want_stderr" "start-up calls, log = stderr: exactly the list below"
# Each one's cause:
#   openat, newfstatat, read, close    the config (fstat: a regular file, its size, and
#                       its owner where root's is required)
#   newfstatat(2)       log.c, with log = stderr: the identity of stderr at start-up (a line
#                       goes to fd 2 only while it is still that file); it also tells the
#                       scan below that fd 2 is no socket
#   newfstatat("/")     the root directory, to tell a chroot later (state.c chrooted())
#   openat, newfstatat, mmap           the map (one fstat: its size and identity)
# The scan of inherited descriptors for sockets connected to a resolver
# (hook_dns.c) is not a start-up cost: it runs at the first send, below.

# log = syslog: stderr is not looked at.
want_syslog=$(printf '%s\n' "$want_stderr" | sed -e '/^newfstatat(2/d' -e 's/stderr\.conf/syslog.conf/')
is "$(with_lib syslog)" "$want_syslog" "start-up calls, log = syslog: stderr not stat'ed"

# The same calls with a map of 100,000 domains: start-up does not grow with the map.
awk -v o="$ONION1" 'BEGIN { for (i = 0; i < 100000; i++) printf "d%06d.example %s.onion\n", i, o }' >"$T/big"
"$MAPTOOL" "$T/big" >/dev/null || exit 1
sed "s#$T/domains.cdb#$T/big.cdb#" "$T/stderr.conf" >"$T/bigmap.conf"
is "$(with_lib bigmap)" "$(sed -e 's/stderr\.conf/bigmap.conf/' -e 's/domains\.cdb/big.cdb/' <<<"$want_stderr")" \
	"a map of 100,000 domains: the same calls"
ok $([ "$(stat -c %s "$T/big.cdb")" -gt 1000000 ] && echo 0 || echo 1) "(control: that map is over 1 MB)"

out=$(with_lib stderr)
for call in futex geteuid getuid getrandom brk fstatfs 'fstat\(' getpeername getdents64 rt_sigprocmask; do
	unlike "$out" "^$call" "no $call at start-up"
done
is "$(grep -cE '^(newfstatat|fstat)\(3' <<<"$out")" 2 "one fstat for the config, one for the map (not two)"

# Root is known from the auxiliary vector (AT_EUID); a process started as
# another user asks geteuid(), because it may have become root since (a root
# process reads an ONIONMX_CONF only if the file is root's).
# (A copy of the library in $T: nobody may not be able to enter the checkout,
# e.g. one cloned into a mktemp -d.)
cp "$LIB" "$T/libonionmx.so"
out=$(AS_USER=nobody own_calls LD_PRELOAD="$T/libonionmx.so" ONIONMX_CONF="$T/stderr.conf")
like "$out" "^geteuid\(\)" "started as nobody with ONIONMX_CONF: geteuid() (it may have become root since)"
like "$out" "^openat\(\"domains\.cdb\"\)" "(control: that run is traced to its end)"

# The scan of inherited descriptors runs at the first send of any kind (dd's
# write() here), before the bytes leave, once; signals are blocked around it.
# An inherited descriptor (5) is examined, stderr and the map's are not.
scan_before() { # scan_before TRACE CALL-REGEX: 0 if the scan's getpeername(5) precedes the first CALL
	awk -v call="$2" '/^getpeername\(5\)/ && !seen { seen = NR } $0 ~ call && !first { first = NR }
		END { exit !(seen && first && seen < first) }' <<<"$1"
}
out=$(with_lib stderr -- sh -c 'exec 5</dev/null; exec dd if=/dev/zero of=/dev/null bs=1 count=2 status=none')
like "$out" "^openat\(\"/proc/self/fd\"\)" "dd, which writes: the scan runs"
scan_before "$out" '^write\('
ok $? "the inherited descriptor 5 is examined before the first write() leaves"
is "$(grep -c '^openat("/proc/self/fd")' <<<"$out")" 1 "once: dd's second write() does not scan again"
is "$(grep -c '^write(' <<<"$out")" 2 "(control: dd wrote twice)"
is "$(grep -c '^rt_sigprocmask(' <<<"$out")" 2 "signals blocked around the scan, and the mask restored"
unlike "$out" "^getpeername\((2|3)\)" "neither stderr (stat'ed by the log: no socket) nor the map's descriptor is examined"

# stderr is skipped only because the log found no socket there: a socket
# connected to a resolver as fd 2 (bash's /dev/udp connects it; nothing is
# sent) is examined like any other.
out=$(with_lib stderr -- bash -c 'exec 2<>/dev/udp/127.0.0.1/53 && exec dd if=/dev/zero of=/dev/null bs=1 count=1 status=none')
like "$out" "^getpeername\(2\)" "log = stderr, fd 2 a UDP socket connected to port 53: the scan examines it"

# chroot() before any send: the scan runs first (after it /proc is usually out
# of reach). coreutils' chroot into / as root.
if [ "$(id -u)" = 0 ]; then
	out=$(with_lib stderr -- sh -c 'exec 5</dev/null; exec chroot / /bin/true')
	scan_before "$out" '^chroot\('
	ok $? "chroot(): the inherited descriptors are examined before it"
	like "$out" "^chroot\(\"/\"\)" "(control: chroot() was called)"
else
	ok 0 "# SKIP chroot() needs root"
	ok 0 "# SKIP chroot() needs root"
fi

# A program the configuration leaves alone passes everything through: no map,
# no scan even when it writes; a listed one gets both.
out=$(with_lib other -- dd if=/dev/zero of=/dev/null bs=1 count=1 status=none)
like "$out" "^readlink\(\"/proc/self/exe\"" "(control: \"programs\" makes the library read which program this is)"
unlike "$out" "domains\.cdb|/proc/self/fd|getpeername" "an unlisted program: neither the map nor the descriptor scan"
like "$out" "^write\(" "(control: that program wrote)"
out=$(with_lib dd -- dd if=/dev/zero of=/dev/null bs=1 count=1 status=none)
like "$out" "openat\(\"domains\.cdb\"\)" "a listed program opens the map"
like "$out" "openat\(\"/proc/self/fd\"\)" "and scans its inherited descriptors when it writes"

# ld.so maps the library's writable segment from the file alone: its
# zero-initialised tables are file-backed (shim/libonionmx.ld), not one more
# anonymous mapping. Control: libc's loading, traced the same way, does map
# its .bss anonymously.
with_lib stderr >/dev/null
loading() { # loading LIBRARY-REGEX: the mmaps from the library's openat to the next close
	awk -v lib="$1" '$0 ~ "^openat\\(AT_FDCWD, \"[^\"]*" lib && !on { on = 1; next } on && /^close\(/ { exit } on && /^mmap\(/ { print }' "$T/trace"
}
libc_maps=$(loading 'libc\\.so\\.6')
omx_maps=$(loading 'libonionmx\\.so')
like "$libc_maps" "MAP_ANONYMOUS" "(control: libc's loading maps its .bss anonymously, and is seen)"
like "$omx_maps" "MAP_DENYWRITE" "(control: the library's own loading is seen)"
unlike "$omx_maps" "MAP_ANONYMOUS" "the library's loading maps nothing anonymous"

# What a start writes of the library's data fits the one page ld.so's
# relocations already copy (.got.plt): the config's texts in one run at its
# end, no 1 KiB buffer per path (shim/libonionmx.ld). Counted in a sleeping
# process, from /proc/PID/pagemap (mapped_pages); libc's data, copied the
# same way, is the control.
(exec env LD_PRELOAD="$LIB" ONIONMX_CONF="$T/stderr.conf" sleep 30) &
sleeper=$!
for _ in $(seq 100); do # sleeping (S) only once in nanosleep, after the constructor
	[ "$(awk '{ print $3 }' /proc/$sleeper/stat 2>/dev/null)" = S ] && break
	sleep 0.05
done
pages=$("$H/mapped_pages" $sleeper /libonionmx.so)
libc_pages=$("$H/mapped_pages" $sleeper /libc.so.6)
kill $sleeper 2>/dev/null
wait $sleeper 2>/dev/null
ok $(awk '$1 == "rw-p" && $5 >= 1 { f = 1 } END { exit !f }' <<<"$libc_pages"; echo $?) \
	"(control: libc's data pages copied at start are seen: $(awk '$1 == "rw-p" { print $5 }' <<<"$libc_pages"))"
is "$(awk '$1 == "rw-p" { print $5 }' <<<"$pages")" 1 "a start copies one page of the library's writable data"

# The functions a start runs (constructors, config, map, binding libc) lie
# together right after .init and the PLT (OMX_STARTUP: .text.startup, which
# the linker lays out first; .fini moved after .init, shim/libonionmx.ld):
# each page fault in the text maps a 64 KiB window of it, so code spread over
# the library had all of its 150 KiB mapped in every process. callgrind names
# each function run; nm says where it lies.
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
	env LD_PRELOAD="$LIB" ONIONMX_CONF="$T/stderr.conf" valgrind -q --tool=callgrind \
		--callgrind-out-file="$T/cg" /bin/true >/dev/null 2>&1
	ran=$(callgrind_annotate --threshold=100 "$T/cg" 2>/dev/null |
		sed -nE 's/.*:([A-Za-z0-9_.]+) \[[^]]*libonionmx\.so\]$/\1/p' | sort -u)
	ok $(grep -qx omx_init <<<"$ran"; echo $?) "(control: callgrind names the functions a start runs in the library)"
	# Their addresses: by name from nm, the unnamed (the PLT, crtbegin's) as
	# callgrind gives them, and .init and .fini, which ld.so calls, from the
	# dynamic section; then the lowest and the highest.
	addrs=$( {
		nm "$LIB" | awk -v ran="$(tr '\n' ' ' <<<"$ran")" '
			BEGIN { n = split(ran, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
			$3 in want && !($3 in seen) { seen[$3] = 1; print $1 }'
		sed -n 's/^0x//p' <<<"$ran"
		readelf -d "$LIB" | awk '$2 == "(INIT)" || $2 == "(FINI)" { sub(/^0x/, "", $3); print $3 }'
	} | while read -r h; do echo $((16#$h)); done | sort -n)
	lo=$(head -1 <<<"$addrs") hi=$(tail -1 <<<"$addrs")
	ok $([ "$lo" -gt 0 ] && [ $((hi - lo)) -le 32768 ] && echo 0 || echo 1) \
		"every function a start and its exit run lies within 32 KiB ($(wc -l <<<"$addrs") functions in $(((hi - lo) / 1024)) KiB from $(printf %#x "$lo"))"
else
	for _ in 1 2; do ok 0 "# SKIP valgrind is not installed (tests/deps.sh installs it)"; done
fi
done_testing
