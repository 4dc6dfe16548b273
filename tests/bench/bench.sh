#!/bin/bash
# make bench: onionmx side by side with torsocks 2.4, proxychains-ng 4.16 and no
# library at all, measured in one run inside a private network namespace
# (loopback only). Every measurement alternates the variants round by round and
# reports medians (ratios: the median of the per-round ratios, with the
# interquartile range); nothing here asserts an absolute threshold: the targets
# are printed next to the measurements with "met" or "gap".
#
# Rows that miss their target get their cause, from what the bench measured
# (a second bound, strace counts, perf shares), in one line under the table.
# The MTA row comes from tests/bench/mta.sh (Debian's Postfix, unpacked from the
# .deb tests/deps.sh downloads, in its own namespaces).
#
# The cost of the hardening flags: the library built HARDEN=0 (make bench
# builds it in build/bench/unhardened) runs beside the default hardened one in
# the same rounds (onion connect, passthrough connect, start-up).
#
# Counts that other load on the machine does not change lead: user-space
# instructions (callgrind) and system calls (strace -c -f) per onion connect and
# per start of /bin/true, for onionmx with a 1-domain and a BIG-domain map, torsocks
# and torsocks -i (TORSOCKS_ISOLATE_PID=1), each against its target (issue 15).
#
# Environment: BENCH_ROUNDS (default 11), BENCH_QUICK=1 (smaller runs, for
# trying the script out), BENCH_NO_MTA=1 (leave out the Postfix row). Build
# first: make bench does.
. "$(dirname "$0")/../lib.sh"

MA_LIB=$(sys_libdir) # Debian's multiarch directory, where the two are installed
TORSOCKS_LIB=$MA_LIB/torsocks/libtorsocks.so
PROXYCHAINS_LIB=$MA_LIB/libproxychains.so.4

# Outside the namespace (apt needs the network): install what is missing.
if [ -z "${OMX_IN_NETNS:-}" ]; then
	missing=""
	for p in torsocks proxychains4 libproxychains4 valgrind strace; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "# bench: installing$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		guard=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			guard=/usr/sbin/policy-rc.d
		fi
		APT="apt-get -o DPkg::Lock::Timeout=600"
		$APT update -qq && $APT install -y -qq --no-install-recommends $missing >/dev/null
		rc=$?
		[ -n "$guard" ] && rm -f "$guard"
		[ $rc = 0 ] || { echo "bench: cannot install$missing" >&2; exit 1; }
	fi
	# The MTA row needs Debian's Postfix .deb and its run-time dependencies.
	ls "${POSTFIX_DEB_DIR:-/var/cache/onionmx}"/postfix_*_amd64.deb >/dev/null 2>&1 ||
		sh "$TOP/tests/deps.sh" || echo "# bench: no Postfix .deb, the MTA row will be n/a" >&2
fi
enter_netns "$@"
START=$(date +%s.%N)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg) # the wall-time rows swing with it
BB=$B/build/bench
ROUNDS=${BENCH_ROUNDS:-11}
if [ "${BENCH_QUICK:-}" = 1 ]; then
	N_ONION=300 N_SPAWN=50 N_PASS=1000 N_RES=600 BIG=100000 ROUNDS=${BENCH_ROUNDS:-5}
else
	N_ONION=2000 N_SPAWN=200 N_PASS=5000 N_RES=3000 BIG=1000000
fi
sysctl -qw net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null
sysctl -qw net.ipv4.tcp_tw_reuse=1 2>/dev/null
mkdir -p "$T/r"
. "$TOP/tests/bench/stats.sh"

SOCKS=127.0.0.1:9050 SINK=127.0.0.1:2525
SRV_ONION=$("$H/onion_gen" bench-discovered)
"$BB/responder" -s $SOCKS -t $SINK -d 127.0.0.1:53 -o "$SRV_ONION" -p "$T/responder.pid" || exit 1
wait_pidfile "$T/responder.pid" || exit 1

# --- maps: 10, 10,000 and BIG domains, each with its own onion ------------------
say() { echo "# $*" >&2; }
# onion_gen derives each key ([k]B, ~50 us): the list is kept under build/
# and made again only when onion_gen changes.
ONION_LIST=$BB/onions.$BIG
if ! [ -s "$ONION_LIST" ] || [ "$H/onion_gen" -nt "$ONION_LIST" ]; then
	say "generating $BIG onions (kept in $ONION_LIST)"
	"$H/onion_gen" bench "$BIG" >"$ONION_LIST.tmp" && mv "$ONION_LIST.tmp" "$ONION_LIST" || exit 1
fi
say "the maps"
cp "$ONION_LIST" "$T/onions"
awk '{ printf "d%07d.example %s.onion\n", NR, $1 }' "$T/onions" >"$T/big"
# The same number of domains over 10,000 onions, each onion's domains listed
# together as map.yml lists a provider's (a provider's many domains share its
# few onions): the compile without the per-onion key check's bound.
SHARED=10000
awk -v s=$SHARED 'NR <= s { o[NR] = $1 } END { for (i = 0; i < NR; i++) printf "d%07d.example %s.onion\n", i + 1, o[int(i * s / NR) + 1] }' "$T/onions" >"$T/shared"
head -1 "$T/big" >"$T/m1"
head -10 "$T/big" >"$T/m10"
head -10000 "$T/big" >"$T/m10k"
ONION=$(head -1 "$T/onions").onion # mapped in all three maps
"$MAPTOOL" "$T/m1" >/dev/null && "$MAPTOOL" "$T/m10" >/dev/null && "$MAPTOOL" "$T/m10k" >/dev/null || exit 1

# The big map's compile from scratch, timed, alternating with two bounds:
# tinycdb's own tool writing the very same records (dumped from the compiled
# map) with nothing to parse, check or assign, and tinycdb's cdb -c -m writing
# the source's domain -> onion pairs as they are (the target's reference: the
# least any map of these pairs costs). Then a rebuild over the existing map
# (read, verified, addresses carried over), once.
MAP_ROUNDS=3
say "compiling the $BIG-domain map, and tinycdb writing the same records and the bare pairs: $MAP_ROUNDS rounds (timed)"
TIMEFORMAT='%R %U %S'
CDB_SAME=""
for ((r = 0; r < MAP_ROUNDS; r++)); do
	rm -f "$T/big.cdb"
	{ time "$MAPTOOL" "$T/big" >/dev/null 2>"$T/compile.err"; } 2>>"$T/r/compile.time" || {
		cat "$T/compile.err" >&2
		exit 1
	}
	command -v cdb >/dev/null || continue
	[ "$r" = 0 ] && cdb -d "$T/big.cdb" >"$T/big.dump"
	{ time cdb -c "$T/tiny.cdb" "$T/big.dump" >/dev/null 2>&1; } 2>>"$T/r/cdbc.time"
	{ time cdb -c -m "$T/pairs.cdb" "$T/big" >/dev/null 2>&1; } 2>>"$T/r/cdbm.time"
	{ time "$MAPTOOL" "$T/shared" >/dev/null 2>"$T/compile.err"; } 2>>"$T/r/shared.time" || {
		cat "$T/compile.err" >&2
		exit 1
	}
	{ time cdb -c -m "$T/spairs.cdb" "$T/shared" >/dev/null 2>&1; } 2>>"$T/r/scdbm.time"
done
KEYCHECK=$("$BB/keycheck" 2000) # "check US derive US decode US by_order US" per key
K_CHECK=$(echo "$KEYCHECK" | awk '{ print $2 }') K_DECODE=$(echo "$KEYCHECK" | awk '{ print $6 }')
{ time "$MAPTOOL" "$T/big" >/dev/null 2>"$T/compile.err"; } 2>"$T/r/rebuild.time" || {
	cat "$T/compile.err" >&2
	exit 1
}
col() { awk -v c="$1" '{ print $c }' "$2" >"$T/col.tmp"; median "$T/col.tmp"; } # col N FILE: median of column N
C_WALL=$(col 1 "$T/r/compile.time") C_USER=$(col 2 "$T/r/compile.time") C_SYS=$(col 3 "$T/r/compile.time")
if [ -s "$T/r/cdbc.time" ]; then
	CDB_WALL=$(col 1 "$T/r/cdbc.time")
	cmp -s "$T/big.cdb" "$T/tiny.cdb" && CDB_SAME=1
	CDBM_WALL=$(col 1 "$T/r/cdbm.time") CDBM_USER=$(col 2 "$T/r/cdbm.time") CDBM_SYS=$(col 3 "$T/r/cdbm.time")
	CDBM_SIZE=$(stat -c %s "$T/pairs.cdb")
	S_WALL=$(col 1 "$T/r/shared.time") SCDBM_WALL=$(col 1 "$T/r/scdbm.time")
	S_SIZE=$(stat -c %s "$T/shared.cdb") SCDBM_SIZE=$(stat -c %s "$T/spairs.cdb")
fi
REB_WALL=$(col 1 "$T/r/rebuild.time")
rm -f "$T/big.dump" "$T/tiny.cdb" "$T/pairs.cdb" "$T/spairs.cdb" "$T/shared" "$T/shared.cdb"
C_SIZE=$(stat -c %s "$T/big.cdb")
C_SRC=$(stat -c %s "$T/big")

for m in m1 m10 m10k big; do
	cat >"$T/$m.conf" <<EOM
socks = $SOCKS
map = $T/$m.cdb
timeout = 5
log = stderr
log_level = warning
EOM
done
{ cat "$T/big.conf"; echo "isolate = no"; } >"$T/big-noiso.conf"
{ cat "$T/big.conf"; echo "discover = srv"; echo "cache = $T/discovery.cache"; } >"$T/big-disc.conf"
cat >"$T/torsocks.conf" <<EOM
TorAddress 127.0.0.1
TorPort 9050
OnionAddrRange 127.42.42.0/24
AllowOutboundLocalhost 1
EOM
cat >"$T/proxychains.conf" <<EOM
strict_chain
proxy_dns
remote_dns_subnet 224
tcp_read_time_out 15000
tcp_connect_time_out 8000
localnet 127.0.0.0/255.0.0.0
[ProxyList]
socks5 127.0.0.1 9050
EOM

# Variants: the environment each runs with.
V_base=()
V_omx=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/big.conf")
V_omxni=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/big-noiso.conf")
V_omxd=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/big-disc.conf")
V_omx1=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/m1.conf")
V_omx10=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/m10.conf")
V_omx10k=(LD_PRELOAD="$LIB" ONIONMX_CONF="$T/m10k.conf")
ULIB=$BB/unhardened/shim/libonionmx.so # HARDEN=0
[ -f "$ULIB" ] || { echo "bench: $ULIB missing (make bench builds it)" >&2; exit 1; }
V_omxu=(LD_PRELOAD="$ULIB" ONIONMX_CONF="$T/big.conf")
V_tor=(LD_PRELOAD="$TORSOCKS_LIB" TORSOCKS_CONF_FILE="$T/torsocks.conf")
V_tori=(LD_PRELOAD="$TORSOCKS_LIB" TORSOCKS_CONF_FILE="$T/torsocks.conf" TORSOCKS_ISOLATE_PID=1) # torsocks -i
V_pc=(LD_PRELOAD="$PROXYCHAINS_LIB" PROXYCHAINS_CONF_FILE="$T/proxychains.conf"
	PROXYCHAINS_QUIET_MODE=1)

# run ROW VARIANT: runs ROW's command (the array C_ROW_VARIANT, else C_ROW) in
# VARIANT's environment and appends its ns_per_op to $T/r/ROW.VARIANT ("fail" if
# it failed), and its CPU time per call to $T/r/ROW.VARIANT.cpu. For ROW "start"
# the environment goes to the spawned /bin/true only.
run() {
	local row=$1 var=$2 out e argv=()
	local -n envs="V_$var"
	if declare -p "C_${row}_$var" >/dev/null 2>&1; then
		local -n cmd="C_${row}_$var"
	else
		local -n cmd="C_$row"
	fi
	if [ "$row" = start ]; then
		argv=("${cmd[@]}")
		for e in "${envs[@]}"; do argv+=(-e "$e"); done
		argv+=(/bin/true)
	else
		argv=(env "${envs[@]}" "${cmd[@]}")
	fi
	local wall="" cpu=""
	if out=$("${argv[@]}" 2>>"$T/r/$row.$var.err"); then
		wall=$(printf '%s\n' "$out" | sed -n 's/^ns_per_op //p')
		cpu=$(printf '%s\n' "$out" | sed -n 's/^cpu_ns_per_op //p')
	fi
	echo "${wall:-fail}" >>"$T/r/$row.$var"
	echo "${cpu:-fail}" >>"$T/r/$row.$var.cpu"
}

# rounds ROW "VARIANT...": ROUNDS rounds, every variant once per round, the
# order rotated each round.
rounds() {
	local row=$1 vars=($2) r i n
	n=${#vars[@]}
	for ((r = 0; r < ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			run "$row" "${vars[(r + i) % n]}"
		done
	done
}

# --- a. onion connect ------------------------------------------------------------
say "onion connect: $ROUNDS rounds x $N_ONION connections per variant"
V_bound=()
V_bound2=()
C_onion=("$BB/client" onion "$ONION" 25 "$N_ONION")
C_onion_bound=("$BB/client" bound $SOCKS "$N_ONION" "$ONION" onionmx "$ONION")
C_onion_bound2=("$BB/client" bound2 $SOCKS "$N_ONION" "$ONION" onionmx "$ONION")
rounds onion "bound omx tor pc bound2 omxni omxu omx1 tori"

# Syscalls per onion connect: strace counts at two loop lengths, the difference
# divided by the extra calls (start-up cancels out); per system call in
# $T/sc.NAME ("syscall calls-per-op"), reads and writes of any kind counted as
# read and write.
syscalls_per_op() { # syscalls_per_op NAME VARIANT CMD-WITH-@N@...
	local name=$1 var=$2 a b
	local -n envs="V_$var"
	shift 2
	count() {
		local n=$1
		shift
		env "${envs[@]}" strace -f -c -o "$T/strace.out" "${@//@N@/$n}" >/dev/null 2>&1 || { echo fail; return; }
		awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { c = $NF
			if (c ~ /^(read|recv|recvfrom|recvmsg|readv)$/) c = "read"
			if (c ~ /^(write|send|sendto|sendmsg|writev)$/) c = "write"
			n[c] += $4 } END { for (c in n) print c, n[c] }' "$T/strace.out" | LC_ALL=C sort >"$T/strace.$n"
		awk '$NF == "total" { print $4 }' "$T/strace.out"
	}
	a=$(count 100 "$@")
	b=$(count 300 "$@")
	if [ "$a" = fail ] || [ "$b" = fail ] || [ -z "$a$b" ]; then echo "?"; return; fi
	LC_ALL=C join -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$T/strace.100" "$T/strace.300" |
		awk '{ print $1, ($3 - $2) / 200 }' >"$T/sc.$name"
	echo $(((b - a) / 200))
}
# sc_diff A B: system calls per op that A makes more (or fewer) than B, the
# largest differences first: "fcntl +3, poll +1, ...".
sc_diff() {
	LC_ALL=C join -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$T/sc.$1" "$T/sc.$2" 2>/dev/null |
		awk '{ d = $2 - $3; if (d >= 0.5 || d <= -0.5) printf "%s %.0f\n", $1, d }' | sort -k2,2nr -k1,1 |
		awk '{ printf "%s%s %+d", (NR > 1 ? ", " : ""), $1, $2 }'
}
if command -v strace >/dev/null; then
	SC_bound=$(syscalls_per_op bound base "$BB/client" bound $SOCKS @N@ "$ONION" onionmx "$ONION")
	SC_bound2=$(syscalls_per_op bound2 base "$BB/client" bound2 $SOCKS @N@ "$ONION" onionmx "$ONION")
	SC_omx=$(syscalls_per_op omx omx "$BB/client" onion "$ONION" 25 @N@)
	SC_omxni=$(syscalls_per_op omxni omxni "$BB/client" onion "$ONION" 25 @N@)
	SC_tor=$(syscalls_per_op tor tor "$BB/client" onion "$ONION" 25 @N@)
	SC_tori=$(syscalls_per_op tori tori "$BB/client" onion "$ONION" 25 @N@)
	SC_omx1=$(syscalls_per_op omx1 omx1 "$BB/client" onion "$ONION" 25 @N@)
	SC_pc=$(syscalls_per_op pc pc "$BB/client" onion "$ONION" 25 @N@)
fi

# --- b. start-up -----------------------------------------------------------------
say "start-up: $ROUNDS rounds x $N_SPAWN runs of /bin/true per variant"
# The floor for any preloaded library: an empty shared object.
printf 'int onionmx_bench_empty;\n' | ${CC:-cc} -shared -fPIC -o "$T/empty.so" -x c - || exit 1
V_empty=(LD_PRELOAD="$T/empty.so")
C_start=("$BB/spawn" "$N_SPAWN")
rounds start "base empty omx1 omx10 omx10k omx omxd tor tori pc omxu"
# System calls of one /bin/true run, per variant.
start_syscalls() { # start_syscalls VARIANT
	local -n envs="V_$1"
	local e args=()
	for e in "${envs[@]}"; do args+=(-E "$e"); done
	strace -c -o "$T/strace.start" "${args[@]}" /bin/true >/dev/null 2>&1 &&
		awk '$NF == "total" { print $4 }' "$T/strace.start"
}
if command -v strace >/dev/null; then
	for v in base empty omx1 omx omxd tor tori; do declare "SCS_$v=$(start_syscalls $v)"; done
fi

# --- c. passthrough ----------------------------------------------------------------
say "passthrough: $ROUNDS x 2 rounds of connect() and res_search()"
ROUNDS2=$((ROUNDS * 2 - 1))
ROUNDS_SAVE=$ROUNDS
ROUNDS=$ROUNDS2
C_pconn=("$BB/client" connect $SINK "$N_PASS")
C_pres=("$BB/client" res plain.example "$N_RES")
rounds pconn "base omx tor pc omxu"
rounds pres "base omx"
ROUNDS=$ROUNDS_SAVE

# --- c2. MX lookups with discovery ---------------------------------------------------
# An unmapped domain (srv.* aside, the responder publishes no SRV record: the
# negative answer is cached after the first lookup, then every lookup goes on
# to DNS), a discovered one (answered from the shared cache), a mapped one.
# The unmapped domain's rows are ratios to no library, each call a DNS round
# trip, as res_search()'s are: as many rounds as the passthrough rows (with 11
# the 1.05x target read met and gap in successive runs: 1.004x [0.950-1.048],
# 1.111x [0.969-1.144], for the same instructions).
say "MX lookups: $ROUNDS2 rounds of the unmapped domain, $ROUNDS of discovered and mapped domains"
C_mxplain=("$BB/client" mx plain.example "$N_RES")
C_mxdisc=("$BB/client" mx srv.example "$N_RES")
C_mxmap=("$BB/client" mx d0000001.example "$N_RES")
ROUNDS=$ROUNDS2
rounds mxplain "base omx omxd"
ROUNDS=$ROUNDS_SAVE
rounds mxdisc "omxd"
rounds mxmap "omx"
# The same MX question of a mapped domain answered by dnsmasq (no library;
# the client asks 127.0.0.2, where dnsmasq serves that MX) beside the
# library's in-place answer (issue 11).
DNSQ=""
if command -v dnsmasq >/dev/null &&
	dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
		--listen-address=127.0.0.2 --bind-interfaces --port=53 --pid-file="$T/dnsq.pid" \
		--mx-host=d0000001.example,"$ONION",10 && wait_pidfile "$T/dnsq.pid"; then
	V_dnsq=(BENCH_NS=127.0.0.2)
	rounds mxmap "dnsq omx"
	kill "$(cat "$T/dnsq.pid")" 2>/dev/null
	DNSQ=1
fi

# Instructions per call: callgrind's total at two loop lengths, per extra call,
# with the library minus without.
instr_per_call() { # instr_per_call VARIANT N1 N2 CLIENT-ARGS-WITH-@N@...
	local var=$1 n1=$2 n2=$3 a b
	local -n envs="V_$var"
	shift 3
	ir() {
		local n=$1
		shift
		env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" \
			"$BB/client" "${@//@N@/$n}" 2>&1 >/dev/null |
			sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
	}
	a=$(ir "$n1" "$@")
	b=$(ir "$n2" "$@")
	cp "$T/cg.out" "$T/cg.$var.$1" 2>/dev/null
	[ -n "$a" ] && [ -n "$b" ] && echo $(((b - a) / (n2 - n1))) || echo fail
}
# by_function FILE N: the library's own instructions per call, by function, from
# callgrind's output of a run of N calls (what runs once at start-up drops out).
by_function() {
	callgrind_annotate --inclusive=no "$1" 2>/dev/null |
		awk -v n="$2" '/libonionmx\.so\]/ { c = $1; gsub(/,/, "", c); f = $(NF - 1)
			sub(/.*:/, "", f); if (c / n >= 1) printf "    %6.0f  %s\n", c / n, f }' | head -12
}
if command -v valgrind >/dev/null; then
	say "passthrough: instructions per call (callgrind)"
	IR_conn_base=$(instr_per_call base 200 1200 connect $SINK @N@)
	IR_conn_omx=$(instr_per_call omx 200 1200 connect $SINK @N@)
	IR_conn_omxu=$(instr_per_call omxu 200 1200 connect $SINK @N@)
	IR_onion_omx=$(instr_per_call omx 50 250 onion "$ONION" 25 @N@)
	IR_onion_omxu=$(instr_per_call omxu 50 250 onion "$ONION" 25 @N@)
	IR_onion_omx1=$(instr_per_call omx1 50 250 onion "$ONION" 25 @N@)
	IR_onion_omxni=$(instr_per_call omxni 50 250 onion "$ONION" 25 @N@)
	IR_onion_tor=$(instr_per_call tor 50 250 onion "$ONION" 25 @N@)
	IR_onion_tori=$(instr_per_call tori 50 250 onion "$ONION" 25 @N@)
	IR_res_base=$(instr_per_call base 100 600 res plain.example @N@)
	IR_res_omx=$(instr_per_call omx 100 600 res plain.example @N@)
	IR_mx_base=$(instr_per_call base 100 600 mx plain.example @N@)
	IR_mx_omx=$(instr_per_call omx 100 600 mx plain.example @N@)
	# Both runs must find the (negative) SRV answer cached: fetch it first.
	env "${V_omxd[@]}" "$BB/client" mx plain.example 1 >/dev/null 2>&1
	IR_mx_omxd=$(instr_per_call omxd 100 600 mx plain.example @N@)
	# The sending calls on descriptors that are no DNS socket (issue 15: <= +100).
	for kind in file write send sendmsg sendmmsg sendto; do
		declare "IR_w_base_$kind=$(instr_per_call base 1000 5000 write $kind @N@)"
		declare "IR_w_omx_$kind=$(instr_per_call omx 1000 5000 write $kind @N@)"
	done
fi

# --- d. memory ---------------------------------------------------------------------
# A sibling process with the same library, map and lookup stays alive, so the
# pages any number of processes share (library text, the map's pages in the page
# cache) are counted as shared, as they are on a real MTA host; then the lone
# process (nothing shared with anyone) for comparison.
say "memory: private RSS"
rss() { # rss VARIANT [SMAPS]: private KiB of the probe after one onion lookup
	local -n envs="V_$1"
	env "${envs[@]}" BENCH_ONION="$ONION" ${2:+BENCH_SMAPS=1} "$BB/client" rss
}
# private_kib: Private_Clean + Private_Dirty; anonymous_kib: the pages only this
# process holds (copied on write, anonymous). Alone, a file's page-cache pages
# mapped by this process only count as private (the library's text the kernel
# maps around each fault, the map's pages): page cache, not the process's.
# A process's stack and heap take a page more or less with where ASLR puts
# them (anonymous: 112-120 KiB for the same probe), so each figure is the
# median of MEM_RUNS probes.
MEM_RUNS=21
for v in base omx tor pc; do
	for i in $(seq $MEM_RUNS); do
		out=$(rss $v)
		sed -n 's/^private_kib //p' <<<"$out" >>"$T/r/rss_lone.$v"
		sed -n 's/^anonymous_kib //p' <<<"$out" >>"$T/r/anon_lone.$v"
	done
	declare "rss_lone_$v=$(median "$T/r/rss_lone.$v")" "anon_lone_$v=$(median "$T/r/anon_lone.$v")"
	out=$(rss $v smaps)
	# The library's own file pages among them (page cache mapped by no one else).
	declare "lib_lone_$v=$(awk '$1 == "map" && $3 ~ /lib(onionmx|torsocks)/ { k += $2 } END { print k + 0 }' <<<"$out")"
	declare "map_lone_$v=$(awk '$1 == "map" && $3 ~ /\.cdb$/ { k += $2 } END { print k + 0 }' <<<"$out")"
done
for v in base omx tor pc; do
	declare -n envs="V_$v"
	env "${envs[@]}" BENCH_ONION="$ONION" "$BB/client" idle &
	PIDS+=($!)
	unset -n envs
done
sleep 0.3
for i in $(seq $MEM_RUNS); do
	for v in base omx tor pc; do
		out=$(rss $v)
		sed -n 's/^private_kib //p' <<<"$out" >>"$T/r/rss.$v"
		sed -n 's/^anonymous_kib //p' <<<"$out" >>"$T/r/anon.$v"
	done
done
rss omx smaps >"$T/smaps.omx"
rss base smaps >"$T/smaps.base"
# Page tables (VmPTE): the process's own, shared with no one, freed when it
# ends. How many 2 MiB ranges a process maps pages in depends on where ASLR put
# each mapping: the same probe takes 40, 44, 48 or 52 KiB, about as often, so a
# median flips between two of them; the mean of PTE_RUNS probes, with its
# standard error, tells a difference of a page-table page from that.
PTE_RUNS=61
mean_se() { # mean_se FILE: "mean standard-error" of the numbers in FILE
	awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0
		printf "%.2f %.2f\n", m, sqrt(v > 0 ? v / n : 0) }' "$1"
}
for v in base omx omx1 tor pc; do
	for i in $(seq $PTE_RUNS); do rss $v | sed -n 's/^pte_kib //p'; done >"$T/r/pte.$v"
	declare "pte_$v=$(mean_se "$T/r/pte.$v" | cut -d' ' -f1)"
done

# --- e. map compile profile ----------------------------------------------------------
say "map compile: profile"
PROFILE=""
if perf record -q -F 499 --call-graph dwarf,8192 -e cpu-clock -o "$T/perf.data" -- \
	"$MAPTOOL" "$T/big" >/dev/null 2>"$T/perf.err"; then
	perf report -i "$T/perf.data" --stdio --children --sort symbol 2>/dev/null |
		grep -E '^ +[0-9.]+%' >"$T/perf.txt"
	PROFILE=perf
elif command -v valgrind >/dev/null; then
	head -100000 "$T/big" >"$T/p100k"
	valgrind --tool=callgrind --callgrind-out-file="$T/cg.map" "$MAPTOOL" "$T/p100k" >/dev/null 2>&1 &&
		callgrind_annotate --inclusive=yes "$T/cg.map" 2>/dev/null |
		awk 'match($0, /\( *[0-9.]+%\)/) && /^ *[0-9,]+ \(/ {
			pct = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", pct)
			for (i = 1; i <= NF; i++) if ($i ~ /:/) f = $i
			sub(/.*:/, "", f); print "  " pct "  [.] " f }' >"$T/perf.txt"
	PROFILE="callgrind, 100,000 domains"
fi
# Where a process's start-up goes with the library (perf over many /bin/true
# runs with the big map; only samples in the /bin/true processes count).
START_PROFILE=""
if perf record -q -F 20000 -e cpu-clock -o "$T/perf.start" -- "$BB/spawn" 300 \
	-e LD_PRELOAD="$LIB" -e ONIONMX_CONF="$T/big.conf" /bin/true >/dev/null 2>&1; then
	perf report -i "$T/perf.start" --stdio --no-children --comm true --sort dso,symbol 2>/dev/null |
		grep -E '^ +[0-9.]+%' >"$T/perf.start.txt"
	START_PROFILE=1
fi
# Where onionmx's start-up cost goes beyond the empty .so's, in counts that
# other load on the machine does not change: user-space instructions of one
# /bin/true run (callgrind; in total, in ld.so's relocation, in the library's
# constructor and its dlsym() binding of the real functions), minor page faults
# per run (getrusage) and system calls (above).
start_ir() { # start_ir VARIANT: callgrind's total for one /bin/true run; keeps $T/cg.start.VARIANT
	local -n envs="V_$1"
	env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$T/cg.start.$1" /bin/true 2>&1 |
		sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
incl() { # incl VARIANT FUNCTION: FUNCTION's inclusive instructions in that run (0 if absent)
	callgrind_annotate --inclusive=yes --threshold=100 "$T/cg.start.$1" 2>/dev/null |
		awk -v f="$2" '{ c = $1; gsub(/,/, "", c); if (c !~ /^[0-9]+$/) next
			for (i = 2; i <= NF; i++) if ($i ~ ":" f "$") { print c; found = 1; exit } }
			END { if (!found) print 0 }'
}
START_IR=""
if command -v valgrind >/dev/null; then
	for v in base empty omx1 omx omxu tor tori; do
		declare "SIR_$v=$(start_ir $v)"
		declare "SREL_$v=$(incl $v _dl_relocate_object)"
	done
	SCTOR=$(incl omx omx_constructor)
	SBIND=$(incl omx omx_bind_real)
	[ -n "$SIR_base" ] && [ -n "$SIR_omx" ] && START_IR=1
fi
for v in base empty omx omxu; do
	declare -n envs="V_$v"
	args=()
	for e in "${envs[@]}"; do args+=(-e "$e"); done
	declare "SFLT_$v=$("$BB/spawn" 50 "${args[@]}" /bin/true 2>/dev/null | sed -n 's/^minflt_per_op //p')"
	unset -n envs
done
kill "$(cat "$T/responder.pid")" 2>/dev/null

# --- f. through an MTA: tests/bench/mta.sh, in namespaces of its own ----------------------
: >"$T/mta.notes"
: >"$T/mta.cause"
if [ "${BENCH_NO_MTA:-}" != 1 ]; then
	say "through an MTA: Debian's Postfix (tests/bench/mta.sh)"
	MTA_ENV=()
	[ "${BENCH_QUICK:-}" = 1 ] && MTA_ENV=(MTA_ROUNDS=3 MTA_NOISO_ROUNDS=2 MTA_BATCH=100)
	env -u OMX_IN_NETNS "${MTA_ENV[@]}" MTA_BENCH_NOTES="$T/mta.notes" MTA_BENCH_CAUSE="$T/mta.cause" \
		bash "$TOP/tests/bench/mta.sh" >"$T/mta.rows" || say "tests/bench/mta.sh failed"
fi

# --- the table -------------------------------------------------------------------------
us() { # us NS: microseconds with one decimal, or the word as it is
	case $1 in fail | "" | "?") echo "${1:-fail}" ;; *) awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }' ;; esac
}
fmt_ratio() { # fmt_ratio "MEDIAN Q1 Q3"
	set -- $1
	[ "$1" = fail ] && { echo "fail"; return; }
	awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.3fx [%.3f-%.3f]", m, a, b }'
}
verdict() { # verdict AWK-CONDITION: met/gap
	awk "BEGIN { exit !($1) }" 2>/dev/null && echo met || echo gap
}
row() { printf '%-34s %-19s %-27s %-22s %-22s %-26s %s\n' "$@"; }
kinstr() { awk -v v="$1" 'BEGIN { printf "%+.0fk", v / 1000 }'; } # kinstr N: +12k
ir_add() { # ir_add A B: B - A, or fail
	case "$1$2" in *fail* | *"?"*) echo fail ;; *) [ -n "$1" ] && [ -n "$2" ] && echo $(($2 - $1)) || echo fail ;; esac
}

cpus=$(nproc)
echo
echo "onionmx bench: $cpus CPU, loopback in a private namespace, $ROUNDS alternating rounds (passthrough and unmapped MX: $ROUNDS2)"
echo "medians; ratios are medians of per-round ratios [interquartile range]"
echo "load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
CAUSES=()
# le A B [FACTOR [PLUS]]: met if A <= FACTOR * B + PLUS, gap if not, n/a without both.
le() {
	case "$1 $2" in *fail* | *"?"* | " "* | *" ") echo "n/a"; return ;; esac
	awk -v a="$1" -v b="$2" -v f="${3:-1}" -v p="${4:-0}" 'BEGIN { print (a <= f * b + p) ? "met" : "gap" }'
}
crow() { printf '%-40s %11s %11s %11s %11s  %-30s %s\n' "$@"; }
echo "Counts (user-space instructions: callgrind; system calls: strace -c -f), which the machine's load does not move:"
crow "per onion resolve+connect+close" "onionmx 1" "onionmx $BIG" "torsocks" "torsocks -i" "onionmx target" "onionmx"
v1=$(le "$IR_onion_omx1" "$IR_onion_tori" 2)
v2=$(le "$IR_onion_omx" "$IR_onion_omx1" 1.1)
crow "  instructions" "${IR_onion_omx1:-n/a}" "${IR_onion_omx:-n/a}" "${IR_onion_tor:-n/a}" "${IR_onion_tori:-n/a}" \
	"<= 2x torsocks -i; $BIG <= 1.1x 1" "$v1; $v2"
v3=$(le "$IR_onion_omxni" "$IR_onion_tor" 2)
crow "    isolate = no" "" "${IR_onion_omxni:-n/a}" "${IR_onion_tor:-n/a}" "" "<= 2x torsocks" "$v3"
v4=$(le "$SC_omx" "$SC_tori" 1 4)
crow "  system calls" "${SC_omx1:-?}" "${SC_omx:-?}" "${SC_tor:-?}" "${SC_tori:-?}" "<= torsocks -i + 4" "$v4"
v5=$(le "$SC_omxni" "$SC_tor" 1 4)
crow "    isolate = no" "" "${SC_omxni:-?}" "${SC_tor:-?}" "" "<= torsocks + 4" "$v5"
[ "$v4" = gap ] && CAUSES+=("system calls per onion connect: onionmx makes $(ir_add "${SC_tori:-fail}" "${SC_omx:-fail}" | sed 's/^[0-9]/+&/') over torsocks -i ($(sc_diff omx tori)); the SOCKS dial is shim/tor.c's (issue 15 item for its owner)")
[ "$v5" = gap ] && CAUSES+=("system calls per onion connect, isolate = no: $(ir_add "${SC_tor:-fail}" "${SC_omxni:-fail}" | sed 's/^[0-9]/+&/') over torsocks ($(sc_diff omxni tor))")
sadd() { ir_add "$1" "$2"; } # sadd BASE X: X - BASE
crow "per start of /bin/true, added" "onionmx 1" "onionmx $BIG" "torsocks" "torsocks -i" "" ""
v6=$(le "$(sadd "$SIR_base" "$SIR_omx")" "$(sadd "$SIR_base" "$SIR_tori")")
crow "  instructions" "$(sadd "$SIR_base" "$SIR_omx1")" "$(sadd "$SIR_base" "$SIR_omx")" "$(sadd "$SIR_base" "$SIR_tor")" "$(sadd "$SIR_base" "$SIR_tori")" "<= torsocks's" "$v6"
v7=$(le "$(sadd "$SCS_base" "$SCS_omx")" "$(sadd "$SCS_base" "$SCS_tor")")
crow "  system calls" "$(sadd "$SCS_base" "$SCS_omx1")" "$(sadd "$SCS_base" "$SCS_omx")" "$(sadd "$SCS_base" "$SCS_tor")" "$(sadd "$SCS_base" "$SCS_tori")" "<= torsocks's" "$v7"
if [ "$v7" = gap ]; then
	strace -c -o "$T/strace.start.omx" -E LD_PRELOAD="$LIB" -E ONIONMX_CONF="$T/big.conf" /bin/true >/dev/null 2>&1
	strace -c -o "$T/strace.start.tor" -E LD_PRELOAD="$TORSOCKS_LIB" -E TORSOCKS_CONF_FILE="$T/torsocks.conf" /bin/true >/dev/null 2>&1
	for v in omx tor; do
		awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF, $4 }' "$T/strace.start.$v" | LC_ALL=C sort >"$T/sc.start$v"
	done
	CAUSES+=("start-up system calls: onionmx $(ir_add "$(sadd "$SCS_base" "$SCS_tor")" "$(sadd "$SCS_base" "$SCS_omx")" | sed 's/^[0-9]/+&/') over torsocks ($(sc_diff startomx starttor)); tests/integ/startup.sh lists each call and its cause: the config (openat, newfstatat, read, close), stderr's identity with log = stderr (newfstatat 2), the root directory's identity to tell a chroot later (newfstatat /), the map (openat, newfstatat, mmap); the scan of inherited descriptors runs at the first send, not at start-up")
fi
echo
row "measurement" "baseline" "onionmx" "torsocks 2.4" "proxychains-ng 4.16" "onionmx target" "onionmx"
row "-----------" "--------" "-------" "------------" "-------------------" "--------------" "-------"

# a.
m_bound=$(median "$T/r/onion.bound")
m_omx=$(median "$T/r/onion.omx")
m_tor=$(median "$T/r/onion.tor")
m_pc=$(median "$T/r/onion.pc")
r_omx=$(ratio_stats "$T/r/onion.omx" "$T/r/onion.bound")
r_tor=$(ratio_stats "$T/r/onion.tor" "$T/r/onion.bound")
r_pc=$(ratio_stats "$T/r/onion.pc" "$T/r/onion.bound")
row "onion connect (us/connection)" "$(us "$m_bound") (bound)" "$(us "$m_omx") $(fmt_ratio "$r_omx" | cut -d' ' -f1)" \
	"$(us "$m_tor") $(fmt_ratio "$r_tor" | cut -d' ' -f1)" "$(us "$m_pc") $(fmt_ratio "$r_pc" | cut -d' ' -f1)" \
	"<= 1.05x bound" "$(verdict "${r_omx%% *} <= 1.05")"
row "  ratio to bound [IQR]" "1" "$(fmt_ratio "$r_omx")" "$(fmt_ratio "$r_tor")" "$(fmt_ratio "$r_pc")" "" ""
r_omx_c=$(ratio_stats "$T/r/onion.omx.cpu" "$T/r/onion.bound.cpu")
r_tor_c=$(ratio_stats "$T/r/onion.tor.cpu" "$T/r/onion.bound.cpu")
r_pc_c=$(ratio_stats "$T/r/onion.pc.cpu" "$T/r/onion.bound.cpu")
row "  client CPU time ratio [IQR]" "$(us "$(median "$T/r/onion.bound.cpu")") us" "$(fmt_ratio "$r_omx_c")" "$(fmt_ratio "$r_tor_c")" "$(fmt_ratio "$r_pc_c")" "" ""
row "  system calls per connection" "${SC_bound:-?}" "${SC_omx:-?}" "${SC_tor:-?}" "${SC_pc:-?}" "" ""
row "  torsocks -i; onionmx, 1-domain map" "" "$(us "$(median "$T/r/onion.omx1")") $(fmt_ratio "$(ratio_stats "$T/r/onion.omx1" "$T/r/onion.bound")" | cut -d' ' -f1)" \
	"$(us "$(median "$T/r/onion.tori")") $(fmt_ratio "$(ratio_stats "$T/r/onion.tori" "$T/r/onion.bound")" | cut -d' ' -f1)" "" "(vs bound)" ""
m_bound2=$(median "$T/r/onion.bound2")
r_omx2=$(ratio_stats "$T/r/onion.omx" "$T/r/onion.bound2")
row "  bound, greeting sent first" "$(us "$m_bound2") (bound2)" "$(fmt_ratio "$r_omx2")" "" "" "(vs bound2)" ""
row "    system calls" "${SC_bound2:-?}" "" "" "" "" ""
r_omxni=$(ratio_stats "$T/r/onion.omxni" "$T/r/onion.bound")
row "  onionmx with isolate = no" "" "$(us "$(median "$T/r/onion.omxni")") $(fmt_ratio "$r_omxni")" "" "" "(vs bound)" ""
row "    system calls" "" "${SC_omxni:-?}" "" "" "" ""
r_b2b=$(ratio_stats "$T/r/onion.bound2" "$T/r/onion.bound")
if [ "$(verdict "${r_omx%% *} <= 1.05")" = gap ]; then
	CAUSES+=("onion connect: $(fmt_ratio "$r_omx" | cut -d' ' -f1) the one-write bound, $(ir_add "${SC_bound:-fail}" "${SC_omx:-fail}" | sed 's/^[0-9]/+&/') system calls a connection ($(sc_diff omx bound)); the request goes in one write as the bound's does, and the replies are read in two when the server (this responder, RFC 1928's order) sends the method choice Tor leaves out (tests/integ/tor.sh): the first read asks for no more than Tor's form")
fi

# b.
m_base=$(median "$T/r/start.base")
for v in empty omx1 omx10 omx10k omx omxd tor tori pc omxu; do
	declare "add_$v=$(paste "$T/r/start.$v" "$T/r/start.base" | awk '$1 != "fail" && $2 != "fail" { print $1 - $2 }' >"$T/d.$v"; median "$T/d.$v")"
	declare "cpu_$v=$(paste "$T/r/start.$v.cpu" "$T/r/start.base.cpu" | awk '$1 != "fail" && $2 != "fail" { print $1 - $2 }' >"$T/d.$v"; median "$T/d.$v")"
done
plus() { case $1 in fail) echo fail ;; *) awk -v v="$1" 'BEGIN { printf "%+.1f", v / 1000 }' ;; esac; }
both() { echo "$(plus "$1") (CPU $(plus "$2"))"; }
row "start-up /bin/true (us; added)" "$(us "$m_base") (CPU $(us "$(median "$T/r/start.base.cpu")"))" "" \
	"$(both "$add_tor" "$cpu_tor")" "$(both "$add_pc" "$cpu_pc")" "" ""
row "  torsocks -i" "" "" "$(both "$add_tori" "$cpu_tori")" "" "" ""
row "  map of 1 domain" "" "$(both "$add_omx1" "$cpu_omx1")" "" "" "<= +100 us" "$(verdict "$add_omx1 <= 100000")"
row "  map of 10 domains" "" "$(both "$add_omx10" "$cpu_omx10")" "" "" "<= +100 us" "$(verdict "$add_omx10 <= 100000")"
row "  map of 10,000 domains" "" "$(both "$add_omx10k" "$cpu_omx10k")" "" "" "<= +100 us" "$(verdict "$add_omx10k <= 100000")"
row "  map of $BIG domains" "" "$(both "$add_omx" "$cpu_omx")" "" "" "<= +100 us, flat" "$(verdict "$add_omx <= 100000")"
row "  same, discover = srv (cache mapped)" "" "$(both "$add_omxd" "$cpu_omxd")" "" "" "<= +100 us" "$(verdict "$add_omxd <= 100000")"
if [ "$(verdict "$add_omxd <= 100000")" = gap ] && [ "$(verdict "$add_omxd <= $add_omx")" = gap ]; then
	CAUSES+=("start-up with discover = srv: $(plus "$(awk -v a="$add_omxd" -v b="$add_omx" 'BEGIN { print a - b }')") us over the map alone: opening and mapping the shared cache file, $(ir_add "${SCS_omx:-fail}" "${SCS_omxd:-fail}" | sed 's/^[0-9]/+&/') system calls (the cache's size does not matter: nothing of it is read at start-up)")
fi
row "  floor: an empty preloaded .so" "$(both "$add_empty" "$cpu_empty")" "" "" "" "" ""
row "  system calls per run" "${SCS_base:-?} (empty .so: ${SCS_empty:-?})" "${SCS_omx:-?}" "" "" "" ""
if [ "$(verdict "$add_omx10 <= 100000 && $add_omx10k <= 100000 && $add_omx <= 100000")" = gap ]; then
	ir_part=""
	[ -n "$START_IR" ] && ir_part=" $(kinstr $((SIR_omx - SIR_empty))) instructions (ld.so relocating $(kinstr $((SREL_omx - SREL_empty))), its constructor $(kinstr "$SCTOR"), of which dlsym() of the real functions $(kinstr "$SBIND")),"
	CAUSES+=("start-up: preloading any .so costs $(plus "$add_empty") us here (an empty one); onionmx $(plus "$(awk -v a="$cpu_omx" -v b="$cpu_empty" 'BEGIN { print a - b }')") us CPU more:$ir_part $(awk -v a="${SFLT_omx:-0}" -v b="${SFLT_empty:-0}" 'BEGIN { printf "%+.0f", a - b }') page faults, $(ir_add "${SCS_empty:-fail}" "${SCS_omx:-fail}" | sed 's/^[0-9]/+&/') system calls (the config, stderr, the root directory, the map: tests/integ/startup.sh)")
fi

# c.
for k in pconn pres; do
	for v in base omx tor pc omxu; do
		[ -s "$T/r/$k.$v" ] && declare "m_${k}_$v=$(median "$T/r/$k.$v")"
		[ -s "$T/r/$k.$v" ] && declare "r_${k}_$v=$(ratio_stats "$T/r/$k.$v" "$T/r/$k.base")"
	done
done
r1=${r_pconn_omx%% *}
row "passthrough connect() (us/call)" "$(us "$m_pconn_base")" "$(us "$m_pconn_omx") $(fmt_ratio "$r_pconn_omx" | cut -d' ' -f1)" \
	"$(us "$m_pconn_tor") $(fmt_ratio "$r_pconn_tor" | cut -d' ' -f1)" "$(us "$m_pconn_pc") $(fmt_ratio "$r_pconn_pc" | cut -d' ' -f1)" \
	"<= 1.01x" "$(verdict "$r1 <= 1.01")"
row "  ratio to baseline [IQR]" "1" "$(fmt_ratio "$r_pconn_omx")" "$(fmt_ratio "$r_pconn_tor")" "$(fmt_ratio "$r_pconn_pc")" "" ""
row "  CPU time ratio [IQR]" "$(us "$(median "$T/r/pconn.base.cpu")") us" "$(fmt_ratio "$(ratio_stats "$T/r/pconn.omx.cpu" "$T/r/pconn.base.cpu")")" \
	"$(fmt_ratio "$(ratio_stats "$T/r/pconn.tor.cpu" "$T/r/pconn.base.cpu")")" \
	"$(fmt_ratio "$(ratio_stats "$T/r/pconn.pc.cpu" "$T/r/pconn.base.cpu")")" "" ""
i1=$(ir_add "$IR_conn_base" "$IR_conn_omx")
row "  instructions per call (added)" "${IR_conn_base:-n/a}" "${IR_conn_omx:-n/a} (+$i1)" "" "" "<= +200" "$(verdict "$i1 <= 200")"
r2=${r_pres_omx%% *}
row "passthrough res_search() (us/call)" "$(us "$m_pres_base")" "$(us "$m_pres_omx") $(fmt_ratio "$r_pres_omx" | cut -d' ' -f1)" \
	"(not hooked)" "(not hooked)" "<= 1.01x" "$(verdict "$r2 <= 1.01")"
row "  ratio to baseline [IQR]" "1" "$(fmt_ratio "$r_pres_omx")" "" "" "" ""
row "  CPU time ratio [IQR]" "$(us "$(median "$T/r/pres.base.cpu")") us" "$(fmt_ratio "$(ratio_stats "$T/r/pres.omx.cpu" "$T/r/pres.base.cpu")")" "" "" "" ""
i2=$(ir_add "$IR_res_base" "$IR_res_omx")
row "  instructions per call (added)" "${IR_res_base:-n/a}" "${IR_res_omx:-n/a} (+$i2)" "" "" "<= +200" "$(verdict "$i2 <= 200")"
# A passthrough time over its 1.01x: what the library adds there, in the
# count that the machine's load does not move, beside the ratio's spread.
passthrough_time_cause() { # passthrough_time_cause NAME RATIO-STATS ADDED BASE
	local q1 q3
	read -r _ q1 q3 <<<"$2"
	CAUSES+=("passthrough $1: $(fmt_ratio "$2") of the time without the library, while it adds $3 user-space instructions to the $4 of a call ($(awk -v a="$3" -v b="$4" 'BEGIN { printf "%.1f%%", 100 * a / b }'));$(awk -v q1="$q1" -v q3="$q3" 'BEGIN { if (q1 <= 1 && q3 >= 1) print " the interquartile range spans 1: no difference this run can tell from the noise of the machine"; else print " beyond the noise of this run" }')")
}
[ "$(verdict "$r1 <= 1.01")" = gap ] && passthrough_time_cause "connect()" "$r_pconn_omx" "$i1" "$IR_conn_base"
[ "$(verdict "$r2 <= 1.01")" = gap ] && passthrough_time_cause "res_search()" "$r_pres_omx" "$i2" "$IR_res_base"
[ "$(verdict "$i2 <= 200")" = gap ] &&
	CAUSES+=("res_search() of a name not ours: +$i2 instructions; an A question can only be ours through an onion, so the library reads the name's last label and the search domains' labels once (omx_search_plan: strchrnul, memrchr) and calls glibc; see the by-function list below")

# c2.
m_mxp_base=$(median "$T/r/mxplain.base")
m_mxp_omx=$(median "$T/r/mxplain.omx")
m_mxp_omxd=$(median "$T/r/mxplain.omxd")
r_mxp_omx=$(ratio_stats "$T/r/mxplain.omx" "$T/r/mxplain.base")
r_mxp_omxd=$(ratio_stats "$T/r/mxplain.omxd" "$T/r/mxplain.base")
m_mxd=$(median "$T/r/mxdisc.omxd")
m_mxm=$(median "$T/r/mxmap.omx")
row "MX, unmapped domain (us/call)" "$(us "$m_mxp_base")" "$(us "$m_mxp_omx") $(fmt_ratio "$r_mxp_omx" | cut -d' ' -f1)" "" "" "<= 1.05x" "$(verdict "${r_mxp_omx%% *} <= 1.05")"
row "  ratio to baseline [IQR]" "1" "$(fmt_ratio "$r_mxp_omx")" "" "" "" ""
row "  instructions per call (added)" "${IR_mx_base:-n/a}" "${IR_mx_omx:-n/a} (+$(ir_add "$IR_mx_base" "$IR_mx_omx"))" "" "" "" ""
row "  discover = srv (no SRV record, cached)" "" "$(us "$m_mxp_omxd") $(fmt_ratio "$r_mxp_omxd" | cut -d' ' -f1)" "" "" "<= 1.05x" "$(verdict "${r_mxp_omxd%% *} <= 1.05")"
row "    ratio to baseline [IQR]" "" "$(fmt_ratio "$r_mxp_omxd")" "" "" "" ""
row "    instructions per call (added)" "" "${IR_mx_omxd:-n/a} (+$(ir_add "$IR_mx_base" "$IR_mx_omxd"))" "" "" "" ""
[ "$(verdict "${r_mxp_omxd%% *} <= 1.05")" = gap ] &&
	CAUSES+=("MX of an unmapped domain with discover = srv: $(ir_add "$IR_mx_omx" "$IR_mx_omxd" | sed 's/^[0-9]/+&/') instructions over the map alone (itself +$(ir_add "$IR_mx_base" "$IR_mx_omx") over no library: the name judged once by the map, the name and its parent entry): the shared cache's negative entry for the domain, copied without the cache's lock (no system call) and believed only after its keyed checksum on the copy (SipHash over the entry, and over the domain to find its slot); then the question goes to DNS as it would without discovery")
if [ -n "$DNSQ" ]; then
	r_dnsq=$(ratio_stats "$T/r/mxmap.omx" "$T/r/mxmap.dnsq")
	row "MX, mapped domain: in place vs dnsmasq" "$(us "$(median "$T/r/mxmap.dnsq")") (dnsmasq)" "$(us "$(median "$T/r/mxmap.omx")") $(fmt_ratio "$r_dnsq")" "" "" "(us/call; vs dnsmasq)" ""
fi
row "MX, discovered domain, cache hit (us/call)" "" "$(us "$m_mxd")" "" "" "<= mapped + 5 us" "$(verdict "$m_mxd - $m_mxm <= 5000")"
row "  MX, mapped domain (map)" "" "$(us "$m_mxm")" "" "" "" ""

# The sending calls on descriptors that are no DNS socket (issue 11, issue 15: <= +100).
row "sending, no DNS socket (instr/call)" "" "" "" "" "" ""
for kind in file write send sendmsg sendmmsg sendto; do
	b="IR_w_base_$kind" o="IR_w_omx_$kind"
	[ -n "${!b:-}" ] || continue
	d=$(ir_add "${!b}" "${!o}")
	case $kind in
	file) label="write() to a regular file" ;;
	sendto) label="sendto() with an address" ;;
	*) label="$kind() on a connected UDP socket" ;;
	esac
	if [ "$kind" = sendto ]; then
		row "  $label" "${!b}" "${!o} (+$d)" "" "" "(datagram checked)" ""
	else
		row "  $label" "${!b}" "${!o} (+$d)" "" "" "<= +100" "$(le "$d" 100)"
	fi
done

# d.
for v in base omx tor pc; do declare "rss_$v=$(median "$T/r/rss.$v")" "anon_$v=$(median "$T/r/anon.$v")"; done
addk() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d", a - b }'; }
row "private RSS (KiB; added)" "$rss_base" "$(addk "$rss_omx" "$rss_base")" "$(addk "$rss_tor" "$rss_base")" \
	"$(addk "$rss_pc" "$rss_base")" "<= +100 KiB" "$(verdict "$rss_omx - $rss_base <= 100")"
row "  anonymous (only this process's)" "$anon_base" "$(addk "$anon_omx" "$anon_base")" "$(addk "$anon_tor" "$anon_base")" \
	"$(addk "$anon_pc" "$anon_base")" "" ""
row "  same, no sibling process" "$rss_lone_base" "$(addk "$rss_lone_omx" "$rss_lone_base")" \
	"$(addk "$rss_lone_tor" "$rss_lone_base")" "$(addk "$rss_lone_pc" "$rss_lone_base")" "" ""
row "    anonymous (only this process's)" "$anon_lone_base" "$(addk "$anon_lone_omx" "$anon_lone_base")" \
	"$(addk "$anon_lone_tor" "$anon_lone_base")" "$(addk "$anon_lone_pc" "$anon_lone_base")" "" ""
addf() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }'; }
row "  page tables (KiB; mean)" "$(printf %.1f "$pte_base")" "$(addf "$pte_omx" "$pte_base")" "$(addf "$pte_tor" "$pte_base")" \
	"$(addf "$pte_pc" "$pte_base")" "" ""
row "    map of 1 domain" "" "$(addf "$pte_omx1" "$pte_base")" "" "" "" ""

if [ "${rss_omx:-0}" -gt "${rss_tor:-0}" ] || [ "${rss_lone_omx:-0}" -gt "${rss_lone_tor:-0}" ]; then
	# Beyond the process's own (anonymous) memory, private RSS counts the
	# library file's page-cache pages that only this process maps; the kernel
	# maps them in 64 KiB windows around each fault, so it grows with the
	# size of the code a process runs, not with what it writes.
	CAUSES+=("private RSS: the process's own (anonymous) memory $(addk "$anon_omx" "$anon_base") KiB, torsocks $(addk "$anon_tor" "$anon_base"); the rest is page cache of the library's file, private while no other process maps those pages: alone, the probe maps $lib_lone_omx KiB of libonionmx.so (its text $(size -A "$LIB" | awk '$1 == ".text" { printf "%d", ($2 + 1023) / 1024 }') KiB, mapped in 64 KiB windows around each fault: the start-up code in the first, the lookup's further on) against $lib_lone_tor KiB of libtorsocks.so (the whole file as mapped), and $map_lone_omx KiB of the map (a lookup reads its table of contents, a hash slot and a record: up to three 64 KiB windows of a big map); with a sibling, which pages each maps differs with their load addresses (a page or two either way)")
fi
# pte_apart A B: "behind" when variant A's mean page tables exceed B's by more
# than twice the standard error of the difference, "ahead" when below by as
# much, else "at".
pte_apart() {
	awk -v a="$(mean_se "$T/r/pte.$1")" -v b="$(mean_se "$T/r/pte.$2")" 'BEGIN { split(a, x, " "); split(b, y, " ")
		d = x[1] - y[1]; e = 2 * sqrt(x[2] * x[2] + y[2] * y[2])
		print (d > e ? "behind" : (d < -e ? "ahead" : "at")) }'
}
if [ "$(pte_apart omx tor)" = behind ] || [ "$(pte_apart omx1 tor)" = behind ]; then
	# The kernel gives each 2 MiB range of a process's address space that has
	# any page mapped a page-table page of its own.
	CAUSES+=("page tables: $(addf "$pte_omx" "$pte_base") KiB with the $BIG-domain map ($(awk -v a="$C_SIZE" 'BEGIN { printf "%.0f", a / 1e6 }') MB, read in place), $(addf "$pte_omx1" "$pte_base") with a 1-domain map, torsocks $(addf "$pte_tor" "$pte_base") (means of $PTE_RUNS probes): a lookup reads the map's table of contents, a hash slot and a record, in three 2 MiB ranges of the mapping far apart in a big map, and each range with a page mapped takes a 4 KiB page-table page; the bound for a lookup in place: one page a range it reads (kernel memory of the process alone, freed when it ends; it grows with the distinct 2 MiB ranges a process has read, to one page for every 2 MiB of the map at most)")
fi

# e.
v_cw=$(le "$C_WALL" "${CDBM_WALL:-}" 4)
v_cs=$(le "$C_SIZE" "${CDBM_SIZE:-}" 1.5)
row "map compile, $BIG domains (s)" "${CDBM_WALL:-n/a} (cdb -c -m)" "$C_WALL $(awk -v a="$C_WALL" -v b="${CDBM_WALL:-0}" 'BEGIN { if (b > 0) printf "%.1fx", a / b }')" "" "" "<= 4x cdb -c -m" "$v_cw"
row "  user + sys CPU (s)" "${CDBM_USER:-?} + ${CDBM_SYS:-?}" "$C_USER + $C_SYS" "" "" "" ""
row "  output (MB)" "$(awk -v b="${CDBM_SIZE:-0}" 'BEGIN { printf "%.0f", b / 1e6 }')" "$(awk -v a="$C_SIZE" -v b="${CDBM_SIZE:-0}" 'BEGIN { printf "%.0f", a / 1e6; if (b > 0) printf " %.2fx", a / b }')" "" "" "<= 1.5x cdb -c -m" "$v_cs"
row "  rebuild over the existing map (s)" "" "$REB_WALL" "" "" "" ""
row "  ed25519 key check (us per distinct onion)" "" "$K_CHECK (decode $K_DECODE)" "" "" "" ""
K_BOUND=$(awk -v k="$K_CHECK" -v n="$BIG" 'BEGIN { printf "%.1f", k * n / 1e6 }')
row "  bound: $BIG distinct onions x check (CPU s)" "" ">= $K_BOUND" "" "" "" ""
v_sw=$(le "${S_WALL:-}" "${SCDBM_WALL:-}" 4)
row "  $BIG domains over $SHARED onions (s)" "${SCDBM_WALL:-n/a} (cdb -c -m)" "${S_WALL:-n/a} $(awk -v a="${S_WALL:-0}" -v b="${SCDBM_WALL:-0}" 'BEGIN { if (b > 0) printf "%.1fx", a / b }')" "" "" "<= 4x cdb -c -m" "$v_sw"
row "    output (MB)" "$(awk -v b="${SCDBM_SIZE:-0}" 'BEGIN { printf "%.0f", b / 1e6 }')" "$(awk -v a="${S_SIZE:-0}" -v b="${SCDBM_SIZE:-0}" 'BEGIN { printf "%.0f", a / 1e6; if (b > 0) printf " %.2fx", a / b }')" "" "" "" ""
r_cdb=$(awk -v a="$C_WALL" -v b="${CDB_WALL:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
row "  tinycdb alone, same records (s)" "${CDB_WALL:-n/a} (cdb -c)" "$r_cdb" "" "" "(vs cdb -c)" ""
row "  source -> cdb size (MB)" "" "$(awk -v a="$C_SRC" -v b="$C_SIZE" 'BEGIN { printf "%.0f -> %.0f", a / 1e6, b / 1e6 }')" "" "" "" ""
pct() { # pct FUNCTION: its inclusive share of the map compile's CPU samples
	awk -v f="$1" '{ sym = $0; sub(/.*\] /, "", sym); sub(/ +-.*$/, "", sym); sub(/ \(inlined\)/, "", sym)
		if ((sym == f || sym == "__GI___" f || sym == "__GI_" f || sym == "__libc_" f) && !seen++) { v = $1 } }
		END { print v ? v : "?" }' "$T/perf.txt" 2>/dev/null
}
if [ "$v_cw" = gap ]; then
	prof=""
	[ -n "$PROFILE" ] && prof="; of onionmx-map's CPU ($PROFILE): cdb_make_finish $(pct cdb_make_finish), parse + validate $(pct omx_map_parse_line_pre) (SHA3 checksums $(pct onion_checksum)), address assignment $(pct assign_addresses), d: records $(pct write_domains), a: records $(pct write_onions)"
	CAUSES+=("map compile, $BIG distinct onions: the ed25519 key check costs $K_CHECK us per distinct onion here ($K_DECODE us the decoding's two square roots, the rest the prime-order subgroup test: a halving and a quartic character), the source's chunks shared between the parse and its precheck thread: >= $K_BOUND s of CPU, >= $(awk -v b="$K_BOUND" 'BEGIN { printf "%.1f", b / 2 }') s of wall time on two cores, whatever else is done; $BIG domains over $SHARED onions: ${S_WALL:-?} s, $v_sw")
	CAUSES+=("map compile: tinycdb alone writing the same records$([ -n "$CDB_SAME" ] && echo " (a byte-identical file)") takes ${CDB_WALL:-?} s here, onionmx-map $r_cdb that, and it also writes the file durably (msync, fsync) and reads it back whole to verify its sum$prof")
fi
if [ "$v_cs" = gap ]; then
	CAUSES+=("map size: a map holds two records per domain -> onion pair (format 3: d:DOMAIN -> ADDR4 CHECK4, a:ADDR -> o ONION35 PORT2 NDOMAINS4 FIRSTDOMAIN CHECK4, each with its 16 bytes of hash slots): tinycdb writing these same records makes the same $(awk -v a="$C_SIZE" 'BEGIN { printf "%.0f", a / 1e6 }') MB, against $(awk -v b="${CDBM_SIZE:-0}" 'BEGIN { printf "%.0f", b / 1e6 }') MB for the bare pairs (README: Performance)")
fi

# g. the hardening flags: the default (hardened) library against HARDEN=0, same rounds.
m_onion_omxu=$(median "$T/r/onion.omxu")
r_hard_onion=$(ratio_stats "$T/r/onion.omx" "$T/r/onion.omxu")
r_hard_pconn=$(ratio_stats "$T/r/pconn.omx" "$T/r/pconn.omxu")
r_hard_start=$(ratio_stats "$T/r/start.omx" "$T/r/start.omxu")
row "hardening flags (us; vs HARDEN=0)" "HARDEN=0" "hardened (default)" "" "" "" ""
row "  onion connect (us/connection)" "$(us "$m_onion_omxu")" "$(us "$m_omx") $(fmt_ratio "$r_hard_onion")" "" "" "" ""
row "    instructions per connection" "${IR_onion_omxu:-n/a}" "${IR_onion_omx:-n/a} ($(ir_add "${IR_onion_omxu:-fail}" "${IR_onion_omx:-fail}" | sed 's/^[0-9]/+&/'))" "" "" "" ""
row "  passthrough connect() (us/call)" "$(us "$m_pconn_omxu")" "$(us "$m_pconn_omx") $(fmt_ratio "$r_hard_pconn")" "" "" "" ""
row "    instructions per call" "${IR_conn_omxu:-n/a}" "${IR_conn_omx:-n/a} ($(ir_add "${IR_conn_omxu:-fail}" "${IR_conn_omx:-fail}" | sed 's/^[0-9]/+&/'))" "" "" "" ""
row "  start-up /bin/true (added)" "$(both "$add_omxu" "$cpu_omxu")" "$(both "$add_omx" "$cpu_omx") $(fmt_ratio "$r_hard_start")" "" "" "" ""
if [ -n "$START_IR" ] && [ -n "${SIR_omxu:-}" ]; then
	row "    instructions, one run" "$SIR_omxu" "$SIR_omx ($(ir_add "$SIR_omxu" "$SIR_omx" | sed "s/^[0-9]/+&/"))" "" "" "" ""
fi
row "    minor page faults" "${SFLT_omxu:-?}" "${SFLT_omx:-?}" "" "" "" ""

# f.
if [ -s "$T/mta.rows" ]; then
	cat "$T/mta.rows"
elif [ "${BENCH_NO_MTA:-}" = 1 ]; then
	row "Postfix delivery (messages/s)" "" "(BENCH_NO_MTA=1)" "" "" ">= 0.95x, IQR above 0.9" ""
else
	row "Postfix delivery (messages/s)" "fail" "fail (tests/bench/mta.sh)" "" "" ">= 0.95x, IQR above 0.9" "gap"
	echo "through Postfix: tests/bench/mta.sh failed (its messages are above)" >"$T/mta.cause"
fi

# onionmx against torsocks on every row where both run (issue 15's "done when"):
# counts compared exactly; times by the per-round ratio onionmx/torsocks over
# the same rounds: ahead when its whole IQR is under 1, behind when it is over
# 1, at when the IQR holds 1 (no difference this run can tell).
VS_BEHIND=()
VS_N=0
vrow() { printf '  %-58s %-24s %-24s %s\n' "$@"; }
vs_row() { # vs_row LABEL ONIONMX TORSOCKS VERDICT: prints the row and counts it
	vrow "$@"
	VS_N=$((VS_N + 1))
	[ "$4" = behind ] && VS_BEHIND+=("${1#"${1%%[! ]*}"}")
}
vs_count() { # vs_count LABEL ONIONMX TORSOCKS
	local v
	case "$2 $3" in *fail* | *"?"* | " "* | *" ") v="n/a" ;; *) v=$(awk -v a="$2" -v b="$3" 'BEGIN { print (a < b ? "ahead" : (a == b ? "at" : "behind")) }') ;; esac
	vs_row "$1" "$2" "$3" "$v"
}
vs_time() { # vs_time LABEL ONIONMX-FILE TORSOCKS-FILE
	local r v
	r=$(ratio_stats "$2" "$3")
	set -- "$1" $r
	case "$2" in fail | "") v="n/a" ;; *) v=$(awk -v q1="$3" -v q3="$4" 'BEGIN { print (q3 < 1 ? "ahead" : (q1 > 1 ? "behind" : "at")) }') ;; esac
	vs_row "$1" "$(fmt_ratio "$2 $3 $4")" "1" "$v"
}
echo
echo "onionmx against torsocks, every row where both run (counts exact; times: per-round ratio onionmx/torsocks [IQR]):"
vrow "row" "onionmx" "torsocks" "onionmx is"
vs_count "instructions per onion connect, isolation (1-domain map; -i)" "${IR_onion_omx1:-n/a}" "${IR_onion_tori:-n/a}"
vs_count "  the same, $BIG-domain map" "${IR_onion_omx:-n/a}" "${IR_onion_tori:-n/a}"
vs_count "  isolate = no (torsocks without -i)" "${IR_onion_omxni:-n/a}" "${IR_onion_tor:-n/a}"
vs_count "system calls per onion connect, isolation (-i)" "${SC_omx:-n/a}" "${SC_tori:-n/a}"
vs_count "  isolate = no (torsocks without -i)" "${SC_omxni:-n/a}" "${SC_tor:-n/a}"
vs_count "start-up instructions, added ($BIG-domain map)" "$(sadd "$SIR_base" "$SIR_omx")" "$(sadd "$SIR_base" "$SIR_tor")"
vs_count "start-up system calls, added" "$(sadd "$SCS_base" "$SCS_omx")" "$(sadd "$SCS_base" "$SCS_tor")"
vs_time "onion connect, wall (isolation; torsocks without)" "$T/r/onion.omx" "$T/r/onion.tor"
vs_time "  client CPU" "$T/r/onion.omx.cpu" "$T/r/onion.tor.cpu"
vs_time "  1-domain map against torsocks -i, wall" "$T/r/onion.omx1" "$T/r/onion.tori"
vs_time "  isolate = no against torsocks, wall" "$T/r/onion.omxni" "$T/r/onion.tor"
vs_time "start-up /bin/true, wall (whole fork+exec+wait)" "$T/r/start.omx" "$T/r/start.tor"
vs_time "  CPU" "$T/r/start.omx.cpu" "$T/r/start.tor.cpu"
vs_time "passthrough connect(), wall" "$T/r/pconn.omx" "$T/r/pconn.tor"
vs_time "  CPU" "$T/r/pconn.omx.cpu" "$T/r/pconn.tor.cpu"
vs_count "private RSS added (KiB, with a sibling)" "$(addk "$rss_omx" "$rss_base")" "$(addk "$rss_tor" "$rss_base")"
vs_count "  anonymous, the process's own (KiB)" "$(addk "$anon_omx" "$anon_base")" "$(addk "$anon_tor" "$anon_base")"
vs_count "  no sibling: private (page cache mapped alone included)" "$(addk "$rss_lone_omx" "$rss_lone_base")" "$(addk "$rss_lone_tor" "$rss_lone_base")"
vs_count "  no sibling: anonymous" "$(addk "$anon_lone_omx" "$anon_lone_base")" "$(addk "$anon_lone_tor" "$anon_lone_base")"
vs_row "  page tables (KiB, mean; $BIG-domain map)" "$(addf "$pte_omx" "$pte_base")" "$(addf "$pte_tor" "$pte_base")" "$(pte_apart omx tor)"
vs_row "    1-domain map" "$(addf "$pte_omx1" "$pte_base")" "$(addf "$pte_tor" "$pte_base")" "$(pte_apart omx1 tor)"
if [ ${#VS_BEHIND[@]} -eq 0 ]; then
	echo "  onionmx is at or ahead of torsocks on all $VS_N rows"
else
	echo "  onionmx is behind torsocks on ${#VS_BEHIND[@]} of $VS_N rows: $(printf '%s; ' "${VS_BEHIND[@]}" | sed 's/; $//')"
fi
while IFS= read -r l; do CAUSES+=("$l"); done <"$T/mta.cause"
if [ ${#CAUSES[@]} -gt 0 ]; then
	echo
	echo "Gaps, with their causes (from what this run measured):"
	for l in "${CAUSES[@]}"; do echo "  $l"; done
fi
echo
echo "bound: the minimal client, a blocking socket sending greeting + RFC 1929 + CONNECT in one write"
echo "and reading exactly the replies; bound2: the same with the greeting alone first (what a client"
echo "that expects Tor's method choice must do: Tor 0.4.9 leaves it out when greeting and RFC 1929 come"
echo "together; onionmx sends all in one write and takes either form). onionmx runs with the $BIG-domain map,"
echo "log_level = warning, isolate = yes unless said. Passthrough connect(): to a loopback"
echo "listener; res_search(): an A question for a name not ours, answered by a UDP responder on"
echo "127.0.0.1:53. Private RSS: a probe process after one onion lookup, while a sibling with the"
echo "same library, map and lookup runs, then with none: medians of $MEM_RUNS probes; page tables:"
echo "the mean of $PTE_RUNS (ASLR moves them by a page or two), apart when the means differ by more"
echo "than twice the difference's standard error. Start-up: wall time per fork+exec+wait of /bin/true,"
echo "and the children's CPU time (less disturbed by other load on the machine); floor: the same with"
echo "an empty shared object preloaded. Map compile: $MAP_ROUNDS rounds from scratch, alternating with"
echo "tinycdb's own cdb -c writing the records of the compiled map (dumped from it) with nothing to"
echo "check, and cdb -c -m writing the source's bare domain -> onion pairs; then one rebuild."
echo "Counts: callgrind's instructions and strace's system calls at two loop lengths, per extra call"
echo "(per connection: getaddrinfo + socket + connect + close, the client's own work included);"
echo "torsocks -i is torsocks with TORSOCKS_ISOLATE_PID=1."
echo "Hardening flags: the library as make builds it (-fstack-protector-strong, -fstack-clash-protection,"
echo "-fcf-protection, -D_FORTIFY_SOURCE=3, -z relro; lazy binding) against the same sources built"
echo "HARDEN=0, in the same rounds; the start-up ratio is of the whole fork+exec+wait."
[ -s "$T/mta.notes" ] && cat "$T/mta.notes"

if [ -f "$T/cg.omx.connect" ]; then
	echo
	echo "Passthrough: the library's instructions per call, by function (callgrind):"
	echo "  connect():"
	by_function "$T/cg.omx.connect" 1200
	echo "  res_search():"
	by_function "$T/cg.omx.res" 600
fi
if [ -f "$T/cg.omx.onion" ]; then
	echo
	echo "Onion resolve+connect: the library's instructions per connection, by function (callgrind, $BIG-domain map):"
	by_function "$T/cg.omx.onion" 250
fi
echo
echo "Memory: private KiB by mapping, onionmx process minus baseline process (with sibling):"
awk 'NR == FNR { if ($1 == "map") base[$3] += $2; next }
	$1 == "map" { omx[$3] += $2 }
	END { for (k in omx) if (omx[k] - base[k] != 0) printf "  %+6d  %s\n", omx[k] - base[k], k
	      for (k in base) if (!(k in omx)) printf "  %+6d  %s\n", -base[k], k }' \
	"$T/smaps.base" "$T/smaps.omx" | sort -k1,1nr

echo
if [ -n "$PROFILE" ]; then
	echo "Map compile: where the time goes ($PROFILE; % of CPU samples, inclusive of callees):"
	for f in omx_read_file omx_map_parse_line_pre omx_onion_check onion_checksum omx_domain_normalise \
		add_domain grow_domains onion_slot grow_onions sort_onions sort_old_addrs assign_addresses omx_addr_candidate \
		write_onions _cdb_make_add _cdb_make_flush cdb_make_finish ksys_write \
		asm_exc_page_fault clear_page_erms __x64_sys_fsync; do
		awk -v f="$f" '{ sym = $0; sub(/.*\] /, "", sym); sub(/ +-.*$/, "", sym); sub(/ \(inlined\)/, "", sym)
			if ((sym == f || sym == "__GI___" f || sym == "__GI_" f || sym == "__libc_" f) && !seen++) printf "  %7s  %s\n", $1, f }' "$T/perf.txt"
	done
	echo "  top functions by own time:"
	perf report -i "$T/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -8 | awk '{ printf "  %7s  %s %s\n", $1, $2, $4 }'
fi
if [ -n "$START_PROFILE" ]; then
	echo
	echo "Start-up with the library: top symbols in the /bin/true processes (perf, % of their CPU samples):"
	head -8 "$T/perf.start.txt" | awk '{ printf "  %7s  %s %s\n", $1, $2, $4 }'
	awk '{ if ($2 == "libonionmx.so") o += $1; t += $1 } END { printf "  %6.2f%%  in libonionmx.so itself\n", o }' "$T/perf.start.txt"
fi
echo
echo "Start-up, one /bin/true run: no library, an empty .so, onionmx ($BIG-domain map); onionmx - empty:"
srow() { printf '  %-40s %10s %10s %10s %10s\n' "$@"; }
if [ -n "$START_IR" ]; then
	srow "user instructions (callgrind)" "$SIR_base" "$SIR_empty" "$SIR_omx" "$(kinstr $((SIR_omx - SIR_empty)))"
	srow "  in ld.so's relocation" "$SREL_base" "$SREL_empty" "$SREL_omx" "$(kinstr $((SREL_omx - SREL_empty)))"
	srow "  in onionmx's constructor" "" "" "$SCTOR" "$(kinstr "$SCTOR")"
	srow "    dlsym() of the real functions" "" "" "$SBIND" "$(kinstr "$SBIND")"
fi
srow "minor page faults (getrusage)" "${SFLT_base:-?}" "${SFLT_empty:-?}" "${SFLT_omx:-?}" \
	"$(awk -v a="${SFLT_omx:-0}" -v b="${SFLT_empty:-0}" 'BEGIN { printf "%+.0f", a - b }')"
srow "system calls (strace)" "${SCS_base:-?}" "${SCS_empty:-?}" "${SCS_omx:-?}" "$(ir_add "${SCS_empty:-fail}" "${SCS_omx:-fail}" | sed 's/^[0-9]/+&/')"
echo
awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "bench took %.0f s\n", e - s }'
