#!/bin/bash
# Several Tor clients (socks = A B C): three stand-ins for Tor, one dead (it
# closes every connection unanswered), one hung (it never answers), one good.
# A connection starts at the Tor its onion picks and moves on from a dead or
# hung one within tor_answer; the dead one is then skipped by every process
# for tor_retry seconds (one shared health file), tried again after; an onion
# keeps to its Tor; answers about the onion (0xF0, 0x04) never move on, a
# general failure (0x01) does.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1

# The Tor an onion starts at, among N: tor.c's rule (its first four base32
# characters), computed here independently.
first_tor() { # first_tor ONION N
	local b32=abcdefghijklmnopqrstuvwxyz234567 v=0 i c p
	for i in 0 1 2 3; do
		c=${1:$i:1}
		p=${b32%%"$c"*}
		v=$((v * 32 + ${#p}))
	done
	echo $((v % $2))
}
socks_at() { # socks_at NAME PORT MODE [ARGS]: a stand-in logging to $T/NAME.log
	local name=$1 port=$2
	shift 2
	rm -f "$T/$name.pid"
	"$H/fake_socks" -l "127.0.0.1:$port" -m "$@" -L "$T/$name.log" -p "$T/$name.pid" &&
		wait_pidfile "$T/$name.pid"
}
stop_at() { stop_pid "$(cat "$T/$1.pid" 2>/dev/null)"; rm -f "$T/$1.pid"; }
accepts() { grep -c '^ACCEPT' "$T/$1.log" 2>/dev/null || true; }
connects() { grep -c "^CONNECT host=$2" "$T/$1.log" 2>/dev/null || true; }
# conf PORT... : socks = those ports in that order
conf() {
	local list="" port
	for port in "$@"; do list="$list 127.0.0.1:$port"; done
	sed -i '/^socks\|^tor_/d' "$T/onionmx.conf"
	{ echo "socks =$list"; echo "tor_health = $T/tor.health"; echo "tor_answer = 1"; echo "tor_retry = 3"; } >>"$T/onionmx.conf"
}

F=$(first_tor "$ONION1" 3)
# Ports by position: ONION1 starts at position F.
P=()
P[F]=9061 P[(F + 1) % 3]=9062 P[(F + 2) % 3]=9063
socks_at dead 9061 close || exit 1
socks_at hung 9062 hang || exit 1
socks_at good 9063 relay -r 127.0.0.40:25 || exit 1
conf "${P[0]}" "${P[1]}" "${P[2]}"

out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>"$T/stderr")
like "$out" "^connect: ok" "first Tor dead, second hung: connected through the third"
like "$out" "^banner: 220 onion " "and the onion's banner arrives"
is "$(accepts dead)/$(accepts hung)/$(connects good "$ONION1")" "1/1/1" "in the onion's order: dead, hung, good, each asked once"
like "$(cat "$T/stderr")" "Tor 127\.0\.0\.1:9061: Tor closed the connection .*trying the next Tor" "the dead Tor is logged"
like "$(cat "$T/stderr")" "Tor 127\.0\.0\.1:9062: no answer to the SOCKS greeting in time .*trying the next Tor" "the hung Tor is logged"
like "$(cat "$T/stderr")" "connected to $ONION1\.onion port 25 .* via Tor 127\.0\.0\.1:9063" "the Tor that carried it is named"
is "$(stat -c '%s %a' "$T/tor.health")" "4096 600" "the shared health file: 4096 bytes, mode 600"

# 20 processes (19 at once): none asks the dead or the hung Tor again.
for i in $(seq 19); do
	shim "$H/connect_probe" "$ONION1.onion" 25 >"$T/out.$i" 2>/dev/null &
done
wait
is "$(cat "$T"/out.* | grep -c '^connect: ok')" 19 "19 more processes: all connected"
is "$(accepts dead)/$(accepts hung)" "1/1" "20 processes: the dead and the hung Tor were each asked once (the health file is shared)"
is "$(connects good "$ONION1")" 20 "(control: the good Tor's log saw all 20)"
is "$(sink_connections onion)" 20 "(control: 20 connections reached the onion)"

# After tor_retry, one process asks the dead Tor again.
sleep 3.5
shim "$H/connect_probe" "$ONION1.onion" 25 >/dev/null 2>&1
is "$(accepts dead)" 2 "tor_retry later: the dead Tor is asked again, once"
shim "$H/connect_probe" "$ONION1.onion" 25 >/dev/null 2>&1
is "$(accepts dead)" 2 "and, still dead, skipped again"

# Stickiness: with three good Tors, an onion's connections all go to its Tor.
stop_at dead
stop_at hung
socks_at dead 9061 relay -r 127.0.0.40:25 || exit 1
socks_at hung 9062 relay -r 127.0.0.40:25 || exit 1
rm -f "$T/tor.health"
: >"$T/dead.log" ; : >"$T/hung.log" ; : >"$T/good.log"
for i in 1 2 3; do shim "$H/connect_probe" "$ONION1.onion" 25 >/dev/null 2>&1; done
is "$(connects dead "$ONION1")/$(connects hung "$ONION1")/$(connects good "$ONION1")" "3/0/0" \
	"three good Tors: the onion's three connections all went to its own Tor"
F2=$(first_tor "$ONION2" 3)
shim "$H/connect_probe" "$ONION2.onion" 25 >/dev/null 2>&1
name=(dead hung good) # by position from F
is "$(connects "${name[(F2 - F + 3) % 3]}" "$ONION2")" 1 "another onion goes to the Tor its name picks (position $F2)"

# Answers about the onion: no other Tor is asked. A general failure: the next is.
for code in 0xF0 0x04 0x01; do
	stop_at dead
	mode=extended
	[ "$code" = 0x01 ] || [ "$code" = 0x04 ] && mode=refuse
	socks_at dead 9061 "$mode" -c "$code" || exit 1
	rm -f "$T/tor.health"
	: >"$T/dead.log"
	: >"$T/hung.log"
	: >"$T/good.log"
	out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>/dev/null)
	if [ "$code" = 0x01 ]; then
		like "$out" "^connect: ok" "reply 0x01 (general failure) from the first Tor: connected through the next"
		is "$(connects hung "$ONION1")" 1 "reply 0x01: the next Tor was asked"
	else
		like "$out" "^connect: EHOSTUNREACH" "reply $code (about the onion): the connection fails"
		is "$(accepts hung)/$(accepts good)" "0/0" "reply $code: no other Tor is asked"
		is "$(connects dead "$ONION1")" 1 "(control: the first Tor was asked and logged it)"
	fi
done

# Every Tor dead: the MTA reads "Network is down".
stop_at dead
stop_at hung
stop_at good
rm -f "$T/tor.health"
out=$(shim "$H/connect_probe" "$ONION1.onion" 25 2>/dev/null)
like "$out" "^connect: ENETDOWN" "no Tor running at all: ENETDOWN"

# onionmx-check --probe uses the same client: it moves on as the MTA does.
socks_at dead 9061 close || exit 1
socks_at good 9063 relay -r 127.0.0.40:25 || exit 1
out=$("$B/tools/onionmx-check" -p mapped.example)
like "$out" "^config .*: socks 127\.0\.0\.1:${P[0]} 127\.0\.0\.1:${P[1]} 127\.0\.0\.1:${P[2]}," "onionmx-check lists the three Tors"
like "$out" "probe: +$ONION1\.onion:25 answered \"220 onion " "--probe: dead, then not running, then the good Tor answered"

# --- onionmx-stats and onionmx-check --health name each Tor by its address ---
# Two relaying stand-ins; an onion starting at each (tor.c's rule), so both
# carry a connection and the second Tor's counts are named by its address.
stop_at dead
stop_at good
pick=("" "")
for i in $(seq 1 40); do
	o=$("$H/onion_gen" "tors-stats-$i")
	idx=$(first_tor "$o" 2)
	[ -z "${pick[idx]}" ] && pick[idx]=$o
	[ -n "${pick[0]}" ] && [ -n "${pick[1]}" ] && break
done
printf 'zero.example %s.onion\none.example %s.onion\n' "${pick[0]}" "${pick[1]}" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
socks_at ta 9071 relay -r 127.0.0.40:25 || exit 1
socks_at tb 9072 relay -r 127.0.0.40:25 || exit 1
conf 9071 9072
mkdir -p "$T/var" && chmod 755 "$T/var"
echo "stats = $T/var/tors.stats" >>"$T/onionmx.conf"
rm -f "$T/tor.health"
is "$(ONIONMX_ACTIVE=1 shim "$H/connect_probe" "${pick[0]}.onion" 25 2>/dev/null | head -1)" "connect: ok" "an onion starting at the first Tor connects"
is "$(ONIONMX_ACTIVE=1 shim "$H/connect_probe" "${pick[1]}.onion" 25 2>/dev/null | head -1)" "connect: ok" "an onion starting at the second Tor connects"
is "$(connects ta "${pick[0]}")/$(connects tb "${pick[1]}")" "1/1" "(control: each went through its own Tor)"
out=$("$B/tools/onionmx-stats" 2>&1)
like "$out" "Tors: 127\.0\.0\.1:9071 1 succeeded 0 failed, 127\.0\.0\.1:9072 1 succeeded 0 failed" \
	"onionmx-stats names both Tors by their addresses"
unlike "$out" "tor1" "no Tor is called tor1"
out=$("$B/tools/onionmx-stats" --json 2>&1)
like "$out" '"tors": \[\{"tor": "127\.0\.0\.1:9071", "succeeded": 1, "failed": 0\}, \{"tor": "127\.0\.0\.1:9072", "succeeded": 1, "failed": 0\}' \
	"onionmx-stats --json names both Tors"
like "$("$B/tools/onionmx-stats" --prometheus - 2>&1)" 'tor="127\.0\.0\.1:9072"' "onionmx-stats --prometheus names the second Tor"
health() { "$B/tools/onionmx-check" --health "$@" 2>&1; }
out=$(health)
is "$?" 0 "--health: both Tors answer: OK"
like "$out" "Tor's SOCKS port 127\.0\.0\.1:9071: answers" "--health probes the first Tor"
like "$out" "Tor's SOCKS port 127\.0\.0\.1:9072: answers" "--health probes the second Tor"
stop_at tb
out=$(health -t)
is "$?" 1 "--health: one of two Tors down: WARNING"
like "$out" "^ONIONMX WARNING - .*Tor 127\.0\.0\.1:9072 does not answer .*1 of 2 Tors down" "and it names the Tor that is down: $out"
stop_at ta
out=$(health -t)
is "$?" 2 "--health: no Tor answers: CRITICAL"
like "$out" "^ONIONMX CRITICAL - our Tor is broken: none of its SOCKS ports 127\.0\.0\.1:9071, 127\.0\.0\.1:9072 answers" \
	"and it names both: $out"
socks_at tb 9072 relay -r 127.0.0.40:25 || exit 1
out=$(health -t)
is "$?" 1 "--health: the second Tor back, the first down: WARNING"
like "$out" "Tor 127\.0\.0\.1:9071 does not answer" "naming the first: $out"
stop_at tb
done_testing
