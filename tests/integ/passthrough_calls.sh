#!/bin/bash
# A lookup of a name that is not ours makes no system call of the library's
# own: res_search of an A and an MX question, res_nsearch on a private state
# (Postfix), getaddrinfo, with and without a search list. Counted with strace
# at two loop lengths (start-up and exit cancel out): the same system calls
# per lookup, of every kind, with the library as without it. No timing: the
# counts do not depend on the machine's load. (Before the search-list plan, an
# MX lookup reloaded resolv.conf itself with res_mkquery: one stat more.)
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
if ! command -v strace >/dev/null; then
	echo "ok 1 - # SKIP strace not installed (tests/deps.sh installs it)"
	echo "1..1"
	exit 0
fi
if [ "${SAN:-}" = 1 ]; then
	# The sanitizers' runtime maps memory now and then on its own: counts per
	# lookup would differ by it (mmap 0.01), not by the library. make check
	# runs this without SAN.
	echo "ok 1 - # SKIP system-call counts under ASan include its runtime's own (run without SAN=1)"
	echo "1..1"
	exit 0
fi
start_dns --host-record=plainhost.example,127.0.0.50 || exit 1
setup_map || exit 1

# per_lookup OUT-PREFIX ENV... -- KIND NAME: "syscall count-per-lookup" lines
# for 40 -> 140 lookups, reads and writes of any kind counted together.
per_lookup() {
	local out=$1 n envs=()
	shift
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	for n in 40 140; do
		env "${envs[@]}" strace -f -o "$T/strace.$n" "$H/lookup_repeat" "$1" "$2" $n >"$T/run.$n" 2>&1
		grep -q "^ok $n$" "$T/run.$n" || { echo "lookup failed: $(cat "$T/run.$n")"; return 1; }
		# The map's freshness check, at most once a second on lookups that
		# consult the map (stat of "/" for a chroot, then of the map's path: how
		# a rebuilt map is noticed, reload.sh), follows how long the run takes,
		# not the number of lookups: it is left out by those two paths.
		awk -v map="$T/domains.cdb" 'index($0, "\"" map "\"") || index($0, "(AT_FDCWD, \"/\",") { next }
			match($0, /^[0-9]+ +[a-z0-9_]+\(/) { c = substr($0, RSTART, RLENGTH - 1); sub(/^[0-9]+ +/, "", c)
			if (c ~ /^(read|recv|recvfrom|recvmsg|readv)$/) c = "read"
			if (c ~ /^(write|send|sendto|sendmsg|sendmmsg|writev)$/) c = "write"
			n[c]++ } END { for (c in n) print c, n[c] }' "$T/strace.$n" | LC_ALL=C sort >"$T/sc.$n"
	done
	LC_ALL=C join -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$T/sc.40" "$T/sc.140" |
		awk '{ d = ($3 - $2) / 100; if (d != 0) printf "%s %.2f\n", $1, d }' >"$out"
}

check() { # check WHAT KIND NAME
	per_lookup "$T/without" -- "$2" "$3" || { ok 1 "$1: the lookups work without the library"; return; }
	per_lookup "$T/with" LD_PRELOAD="$PRELOAD" -- "$2" "$3" || { ok 1 "$1: the lookups work with it"; return; }
	like "$(cat "$T/without")" "[a-z]" "$1: (strace counted the lookups' system calls)"
	is "$(cat "$T/with")" "$(cat "$T/without")" "$1: the same system calls per lookup as without the library"
}

for list in "" "search corp.example"; do
	printf 'nameserver 127.0.0.1\n%s\n' "$list" >"$T/resolv.conf"
	what=${list:-no search list}
	check "res_search(mx.plain.example, A), $what" search-a mx.plain.example
	check "res_search(plain.example, MX), $what" search-mx plain.example
	check "res_nsearch(plain.example, MX), $what" nsearch-mx plain.example
	check "getaddrinfo(plainhost.example), $what" gai plainhost.example
done
# With discovery, an unmapped domain's MX lookup reads the cached "no SRV
# record" answer (stored by a first lookup, so that both loop lengths find it):
# without the cache's lock, so without blocking signals around it.
printf 'nameserver 127.0.0.1\n' >"$T/resolv.conf"
printf 'discover = srv\ncache = %s/discovery.cache\n' "$T" >>"$T/onionmx.conf"
LD_PRELOAD="$PRELOAD" "$H/lookup_repeat" search-mx plain.example 1 >/dev/null 2>&1
check "res_search(plain.example, MX), discover = srv" search-mx plain.example
check "res_nsearch(plain.example, MX), discover = srv" nsearch-mx plain.example
like "$(dns_queries)" "SRV _onion-mx\._tcp\.plain\.example" "(discovery asked for plain.example's SRV records)"
# socket() is hooked too (it marks TCP sockets, hook_socket.c): a bit, no system call.
check "socket(AF_INET, SOCK_STREAM) + close()" socket -
done_testing
