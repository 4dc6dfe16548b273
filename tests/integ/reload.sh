#!/bin/bash
# A long-lived process sees a map rebuilt with onionmx-map at its next lookup; a
# broken rebuild keeps the previous map; a map that was missing at start-up is
# picked up once it appears. A process that has chrooted (as Postfix's smtp
# does) holds no directory descriptor that reaches outside its chroot, so it
# cannot open a rebuilt map: it notices the rebuild (its map file's link count
# drops to 0) and from then on defers every MX lookup (TRY_AGAIN, the cause
# logged) instead of answering from the old map or passing a domain the new map
# may have added to DNS; a process started after the rebuild uses the new map.
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
	# exec: $! is then the probe itself, whose /proc entries the tests read.
	(LD_PRELOAD="$PRELOAD" exec "$H/reload_probe" mapped.example 10 "$@" <"$T/to_probe" >"$T/from_probe" 2>"$T/probe.err") &
	PROBE_PID=$!
	exec {TO_PROBE}>"$T/to_probe" {FROM_PROBE}<"$T/from_probe"
}
step() { # step [NAME]: one lookup (of mapped.example, or NAME); prints the probe's answer
	local line=""
	echo "${1:-go}" >&"$TO_PROBE"
	read -r -t 10 line <&"$FROM_PROBE"
	echo "$line"
}
stop_probe() {
	exec {TO_PROBE}>&- {FROM_PROBE}<&-
	wait "$PROBE_PID" 2>/dev/null
}
run_steps() {
	"$MAPTOOL" "$T/domains" >/dev/null
	start_probe
	is "$(step)" "mx $ONION1.onion" "first lookup uses the map as it was"
	sed -i "s/^mapped.example .*/mapped.example $ONION3.onion/" "$T/domains"
	"$MAPTOOL" "$T/domains" >/dev/null
	sleep 1.2
	is "$(step)" "mx $ONION3.onion" "after onionmx-map, the next lookup uses the new map"
	printf 'garbage\n' >"$T/domains.cdb.new" && mv "$T/domains.cdb.new" "$T/domains.cdb"
	sleep 1.2
	is "$(step)" "mx $ONION3.onion" "a broken map file replacing it: the previous map stays in use"
	like "$(cat "$T/probe.err")" "not a compiled map.*keeping the previous map" "and the broken file is reported"
	sed -i "s/^mapped.example .*/mapped.example $ONION1.onion/" "$T/domains"
	"$MAPTOOL" "$T/domains" >/dev/null
	sleep 1.2
	is "$(step)" "mx $ONION1.onion" "a good map again is picked up"
	stop_probe
}
run_steps

# --- Chrooted, like Postfix's smtp.
"$MAPTOOL" "$T/domains" >/dev/null
start_probe "$T/jail"
is "$(step)" "mx $ONION1.onion" "chrooted: the first lookup uses the map opened before the chroot"
is "$(readlink "/proc/$PROBE_PID/root")" "$T/jail" "chrooted: the probe's root is the jail"
is "$(dir_fds_outside "$PROBE_PID")" "" "chrooted: it holds no descriptor of a directory outside the jail (/proc/PID/fd)"
exec {DIR_FD}<"$T"
like "$(dir_fds_outside $$)" "^$DIR_FD $T$" "control: the same check sees a directory descriptor (this shell's fd $DIR_FD on $T)"
exec {DIR_FD}<&-
is "$(stat -L -c %F "/proc/$PROBE_PID/cwd")" directory "control: and stat -L of a /proc link reports a directory (the probe's cwd)"
is "$(step plain.example)" "mx mx.plain.example" "chrooted: an unmapped domain's MX comes from DNS"
like "$(dns_queries)" "^MX plain\.example$" "control: the DNS log shows that query"
plain_queries=$(dns_queries | grep -c 'plain\.example')
echo "added.example $ONION3.onion" >>"$T/domains"
"$MAPTOOL" "$T/domains" >/dev/null
sleep 1.2
is "$(step added.example)" "none h_errno=2" \
	"chrooted, after a rebuild that added added.example: its MX lookup fails temporarily (TRY_AGAIN)"
is "$(step mapped.example)" "none h_errno=2" "a domain the old map has: deferred too (the new map may have changed it)"
is "$(step plain.example)" "none h_errno=2" "an unmapped domain: deferred too (the new map may have added it)"
like "$(cat "$T/probe.err")" "$T/domains\.cdb: this process finds it has been replaced, and cannot open the map again \(it has chrooted, [^)]*\): deferring every MX lookup until it restarts" \
	"the cause is logged"
is "$(grep -c 'has been replaced' "$T/probe.err")" 1 "once"
unlike "$(dns_queries)" "added\.example" "DNS never heard of added.example"
is "$(dns_queries | grep -c 'plain\.example')" "$plain_queries" "nor again of plain.example"
is "$(dir_fds_outside "$PROBE_PID")" "" "still no directory descriptor outside the jail"
stop_probe
start_probe "$T/jail"
is "$(step added.example)" "mx $ONION3.onion" "a chrooted process started after the rebuild (a recycled smtp) uses the new map"
is "$(step)" "mx $ONION1.onion" "and its other entries"
stop_probe

# --- A program that closes every descriptor (some daemons do) closes the
# library's descriptor of its map. Not chrooted, the map's path still serves,
# and the library never closes what now has that number; chrooted, nothing can
# tell a rebuild any more: it defers.
"$MAPTOOL" "$T/domains" >/dev/null
start_probe
is "$(step)" "mx $ONION1.onion" "closing descriptors: the first lookup uses the map"
like "$(step closefds)" "^pipe 3 4$" "the probe closed every descriptor above 2; its new pipe took fds 3 and 4"
sed "s/^mapped.example .*/mapped.example $ONION3.onion/" "$T/domains" >"$T/domains.3"
"$MAPTOOL" "$T/domains.3" >/dev/null && mv "$T/domains.3.cdb" "$T/domains.cdb"
sleep 1.2
is "$(step)" "mx $ONION3.onion" "not chrooted: a rebuild is still seen, by the map's path"
is "$(step pipeok)" "pipe open" "and the library left the program's pipe (on its old descriptor's number) open"
stop_probe
"$MAPTOOL" "$T/domains" >/dev/null
start_probe "$T/jail"
is "$(step)" "mx $ONION1.onion" "chrooted: the first lookup uses the map"
like "$(step closefds)" "^pipe 3 4$" "the probe closed every descriptor above 2"
sleep 1.2
is "$(step)" "none h_errno=2" "chrooted, its map descriptor gone: the next lookup fails temporarily"
like "$(cat "$T/probe.err")" "domains\.cdb: this process cannot tell whether it has been replaced \(the program closed this library's descriptor of it\), and cannot open the map again \(it has chrooted" \
	"and says why"
stop_probe

# --- The map on overlayfs (a container's root file system, the map in the
# image's layer): a file of a lower layer keeps its link count when the overlay
# replaces it, so a chrooted process could not see a rebuild. It defers from its
# first lookup after the chroot; outside a chroot the path still serves.
mkdir -p "$T/ovl/lower" "$T/ovl/upper" "$T/ovl/work" "$T/ovl/merged"
cp "$T/domains" "$T/ovl/lower/domains"
"$MAPTOOL" "$T/ovl/lower/domains" >/dev/null
mount -t overlay onionmx-reload -o "lowerdir=$T/ovl/lower,upperdir=$T/ovl/upper,workdir=$T/ovl/work" "$T/ovl/merged"
ok $? "an overlay with the compiled map in its lower layer"
sed "s|^map = .*|map = $T/ovl/merged/domains.cdb|" "$T/onionmx.conf" >"$T/ovl.conf"
ONIONMX_CONF=$T/ovl.conf start_probe "$T/jail"
is "$(step)" "none h_errno=2" "overlayfs, chrooted: the first lookup fails temporarily"
like "$(cat "$T/probe.err")" "merged/domains\.cdb: this process cannot tell whether it has been replaced \(its filesystem does not show it\), and cannot open the map again \(it has chrooted" \
	"and says why"
stop_probe
ONIONMX_CONF=$T/ovl.conf start_probe
is "$(step)" "mx $ONION1.onion" "control: not chrooted, the same map answers"
sed "s/^mapped.example .*/mapped.example $ONION3.onion/" "$T/domains" >"$T/ovl/merged/domains"
"$MAPTOOL" "$T/ovl/merged/domains" >/dev/null
sleep 1.2
is "$(step)" "mx $ONION3.onion" "and sees a rebuild by its path"
stop_probe
umount "$T/ovl/merged"

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
