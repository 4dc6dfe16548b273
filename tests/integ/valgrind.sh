#!/bin/bash
# memcheck over the tools and the library's own paths: compiling and querying a
# map (and failing to), the wrapper's check, and a program under the library that
# resolves and connects through the SOCKS server. No error, no definite leak.
. "$(dirname "$0")/../lib.sh"
if [ "${SAN:-}" = 1 ] || ! command -v valgrind >/dev/null; then
	echo "ok 1 - # SKIP valgrind does not run ASan builds"
	echo "1..1"
	exit 0
fi
enter_netns "$@"
setup_map || exit 1
start_dns "--srv-host=_onion-mx._tcp.disc.example,$ONION_UNMAPPED.onion,2525,0,5" \
	"--srv-host=_onion-mx._tcp.bad.example,mx.plain.example,25,0,5" || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99"

vg() { # vg DESCRIPTION COMMAND...: passes unless valgrind reports
	local desc=$1 out status
	shift
	out=$("$@" 2>&1)
	status=$?
	if [ "$status" = 99 ]; then
		ok 1 "$desc"
		printf '%s\n' "$out" | grep '==' | head -20 | sed 's/^/# /'
	else
		ok 0 "$desc"
	fi
}
vg "onionmx-map compiles" $VG "$MAPTOOL" "$T/domains"
vg "onionmx-map -q domain" $VG "$MAPTOOL" -q mapped.example "$T/domains.cdb"
vg "onionmx-map -q address" $VG "$MAPTOOL" -q 240.0.0.1 "$T/domains.cdb"
printf 'x.example bad.onion\n' >"$T/bad"
vg "onionmx-map on a bad source" $VG "$MAPTOOL" "$T/bad"
vg "onionmx -t" $VG "$ONIONMX" -t
printf 'nonsense\n' >"$T/bad.conf"
vg "onionmx -t on a bad config" $VG "$ONIONMX" -c "$T/bad.conf" -t
vg "connect through the library" env LD_PRELOAD="$LIB" $VG "$H/connect_probe" "$ONION1.onion" 25
vg "non-blocking connect through the library" env LD_PRELOAD="$LIB" $VG "$H/connect_probe" -n "$ONION1.onion" 25
vg "res_nsearch answered by the library" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" nsearch mapped.example MX
vg "res_nsend answered by the library" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" nsend "$ONION1.onion" A
vg "gethostbyname_r answered by the library" env LD_PRELOAD="$LIB" $VG "$H/netdb_probe" ghbn_r "$ONION1.onion" 1024
# Names the search list expands (search_list.sh), and getaddrinfo_a.
printf 'nameserver 127.0.0.1\nsearch example onion\n' >"$T/resolv.conf"
vg "res_search of a name the search list makes mapped" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" search mapped MX
vg "getaddrinfo of an onion label the search list expands" env LD_PRELOAD="$LIB" $VG "$H/netdb_probe" gai "$ONION1" 25 inet
vg "getaddrinfo_a, ours and not, thread notification" env LD_PRELOAD="$LIB" $VG "$H/netdb_probe" gai_a thread \
	"$ONION1.onion" "$ONION1" mx.plain
printf 'nameserver 127.0.0.1\n' >"$T/resolv.conf"
vg "system() after clearenv(), environ swapped and restored" env LD_PRELOAD="$LIB" $VG "$H/exec_probe" system true
vg "popen() after clearenv(), environ swapped and restored" env LD_PRELOAD="$LIB" $VG "$H/exec_probe" popen true
ONIONMX_CONF=$T/bad.conf vg "the library with a broken config" env LD_PRELOAD="$LIB" $VG "$H/connect_probe" mx.plain.example 25
# Discovery: the SRV lookup, the shared cache, a discovered onion's connect,
# and onionmx-check over the same paths.
cp "$T/onionmx.conf" "$T/disc.conf"
printf 'discover = srv\ncache = %s/cache\n' "$T" >>"$T/disc.conf"
export ONIONMX_CONF=$T/disc.conf
vg "MX by discovery (SRV lookup, cache written)" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" nsearch disc.example MX
vg "MX by discovery (cache hit)" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" search disc.example MX
vg "MX by discovery, only invalid targets" env LD_PRELOAD="$LIB" $VG "$H/resolv_probe" nsearch bad.example MX
vg "connect to a discovered onion" env LD_PRELOAD="$LIB" $VG "$H/connect_probe" "$ONION_UNMAPPED.onion" 25
vg "onionmx-check, every route" $VG "$B/tools/onionmx-check" disc.example bad.example mapped.example plain.example
vg "onionmx-check --probe" $VG "$B/tools/onionmx-check" -t --probe disc.example
mkdir -p "$T/hs" && echo "$ONION1.onion" >"$T/hs/hostname"
vg "onionmx-check --publish" $VG "$B/tools/onionmx-check" --publish --domain example.org "$T/hs"
out=$(grep -c "$ONION_UNMAPPED.onion port=2525" "$T/socks.log")
ok "$([ "$out" -ge 1 ]; echo $?)" "the discovered onion was reached on its SRV port under valgrind"
export ONIONMX_CONF=$T/onionmx.conf
# A probe that leaks on purpose would fail: checks the check.
printf '#include <stdlib.h>\nint main(void){void *volatile p = malloc(64); p = 0; return 0;}\n' >"$T/leak.c"
gcc -O0 -o "$T/leak" "$T/leak.c"
out=$($VG "$T/leak" 2>&1)
is "$?" 99 "(control: valgrind here does catch a definite leak)"
done_testing
