#!/bin/bash
# A long-lived process sees a map rebuilt with onionmx-map at its next lookup,
# also after it has chrooted (as Postfix's smtp does) where the map's path no
# longer exists; a broken rebuild keeps the previous map; a map that was missing
# at start-up is picked up once it appears.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
ONION3=$("$H/onion_gen" test-three)
mkdir -p "$T/jail"

# The probe reads "go" lines from one FIFO and answers on another.
start_probe() { # start_probe [CHROOT]
	rm -f "$T/to_probe" "$T/from_probe"
	mkfifo "$T/to_probe" "$T/from_probe"
	shim "$H/reload_probe" mapped.example 10 "$@" <"$T/to_probe" >"$T/from_probe" 2>"$T/probe.err" &
	PROBE_PID=$!
	exec {TO_PROBE}>"$T/to_probe" {FROM_PROBE}<"$T/from_probe"
}
step() { # one lookup: prints the probe's answer
	local line=""
	echo go >&"$TO_PROBE"
	read -r -t 10 line <&"$FROM_PROBE"
	echo "$line"
}
stop_probe() {
	exec {TO_PROBE}>&- {FROM_PROBE}<&-
	wait "$PROBE_PID" 2>/dev/null
}
run_steps() { # run_steps CHROOT-OR-EMPTY
	local jail=$1
	"$MAPTOOL" "$T/domains" >/dev/null
	start_probe $jail
	is "$(step)" "mx $ONION1.onion" "${jail:+chrooted: }first lookup uses the map as it was"
	sed -i "s/^mapped.example .*/mapped.example $ONION3.onion/" "$T/domains"
	"$MAPTOOL" "$T/domains" >/dev/null
	sleep 1.2
	is "$(step)" "mx $ONION3.onion" "${jail:+chrooted: }after onionmx-map, the next lookup uses the new map"
	printf 'garbage\n' >"$T/domains.cdb.new" && mv "$T/domains.cdb.new" "$T/domains.cdb"
	sleep 1.2
	is "$(step)" "mx $ONION3.onion" "${jail:+chrooted: }a broken map file replacing it: the previous map stays in use"
	like "$(cat "$T/probe.err")" "not a compiled map.*keeping the previous map" "${jail:+chrooted: }and the broken file is reported"
	sed -i "s/^mapped.example .*/mapped.example $ONION1.onion/" "$T/domains"
	"$MAPTOOL" "$T/domains" >/dev/null
	sleep 1.2
	is "$(step)" "mx $ONION1.onion" "${jail:+chrooted: }a good map again is picked up"
	stop_probe
}
run_steps ""
run_steps "$T/jail"

# Missing map at start: MX lookups defer (TRY_AGAIN); once the map exists, mapped.
rm -f "$T/domains.cdb"
start_probe
is "$(step)" "none h_errno=2" "no map at start-up: the MX lookup fails temporarily"
like "$(cat "$T/probe.err")" "domains\.cdb: No such file" "and the missing map is reported on stderr"
"$MAPTOOL" "$T/domains" >/dev/null
sleep 1.2
is "$(step)" "mx $ONION1.onion" "the map, once compiled, is used without a restart"
stop_probe
unlike "$(dns_queries)" "mapped" "the DNS server never saw mapped.example"
done_testing
