#!/bin/bash
# A broken or missing configuration or map: the wrapper refuses to start with a
# message naming file and line; the library, preloaded anyway, says so once on
# stderr, refuses SMTP connections (25, 465, 587; TCP Fast Open too) and defers
# MX lookups without asking DNS, while other traffic passes.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
start_sink plain 127.0.0.30:25 || exit 1
start_sink other 127.0.0.30:8025 || exit 1
start_sink submission 127.0.0.30:587 || exit 1
good_conf=$ONIONMX_CONF

printf 'socks = 127.0.0.1:9050\nmap = %s\n\nbogus = 1\n' "$T/domains.cdb" >"$T/bad.conf"
out=$(wrapper -c "$T/bad.conf" echo should-not-run 2>&1)
status=$?
is "$status" 78 "wrapper with a broken config exits 78 (EX_CONFIG)"
like "$out" "bad\.conf:4: unknown key \"bogus\"" "and names file, line and key"
unlike "$out" "should-not-run" "the command did not run"
out=$(wrapper -c "$T/bad.conf" -t 2>&1)
is "$?" 78 "onionmx -t reports the broken config"

check_refusals() { # check_refusals DESCRIPTION
	local what=$1 out
	: >"$T/dns.log"
	out=$(shim "$H/connect_probe" mx.plain.example 25 2>"$T/stderr")
	like "$out" "^connect: ECONNREFUSED" "$what: connect to an SMTP server on port 25 is refused"
	out=$(shim "$H/connect_probe" mx.plain.example 587 2>/dev/null)
	like "$out" "^connect: ECONNREFUSED" "$what: port 587 too"
	out=$(shim "$H/connect_probe" -f mx.plain.example 25 2>/dev/null)
	like "$out" "^fastopen: ECONNREFUSED" "$what: TCP Fast Open to port 25 too"
	out=$(shim "$H/connect_probe" mx.plain.example 8025 2>/dev/null)
	like "$out" "^banner: 220 other " "$what: other traffic passes (port 8025)"
	out=$(shim "$H/resolv_probe" nsearch plain.example MX 2>/dev/null)
	like "$out" "^rc=-1 h_errno=2 " "$what: MX lookups fail temporarily (TRY_AGAIN), so the MTA defers"
	out=$(shim "$H/resolv_probe" search mapped.example MX 2>/dev/null)
	like "$out" "^rc=-1 h_errno=2 " "$what: res_search MX too"
	out=$(shim "$H/resolv_probe" nsearch mx.plain.example A 2>/dev/null)
	like "$out" "answer A 127\.0\.0\.30" "$what: A lookups pass"
	unlike "$(dns_queries)" "^MX " "$what: no MX query reached the DNS server"
}

export ONIONMX_CONF=$T/bad.conf
out=$(shim /bin/true 2>&1)
like "$out" "^onionmx: $T/bad\.conf:4: unknown key \"bogus\"; refusing SMTP" "preloaded with a broken config: one clear line on stderr"
is "$(printf '%s\n' "$out" | wc -l)" 1 "exactly one line"
check_refusals "broken config"

export ONIONMX_CONF=$T/missing.conf
out=$(shim /bin/true 2>&1)
like "$out" "missing\.conf: No such file or directory" "a missing config is reported"
check_refusals "missing config"

printf 'map = %s\nlog = stderr\n' "$T/nomap.cdb" >"$T/nomap.conf"
export ONIONMX_CONF=$T/nomap.conf
out=$(shim /bin/true 2>&1)
like "$out" "nomap\.cdb: No such file or directory" "a missing map is reported"
out=$(wrapper echo x 2>&1)
like "$out" "nomap\.cdb: No such file or directory \(compile the map with onionmx-map\)" "the wrapper refuses a missing map too"
check_refusals "missing map"

printf 'this is not a cdb' >"$T/junk.cdb"
printf 'map = %s\nlog = stderr\n' "$T/junk.cdb" >"$T/junk.conf"
export ONIONMX_CONF=$T/junk.conf
out=$(shim /bin/true 2>&1)
like "$out" "junk\.cdb: not a compiled map" "a file that is not a compiled map is reported"
check_refusals "corrupt map"

is "$(sink_count plain)" 0 "nothing was delivered to the SMTP sink while broken"
is "$(sink_count submission)" 0 "nothing to the submission port either"

export ONIONMX_CONF=$good_conf
out=$(shim "$H/connect_probe" mx.plain.example 25 2>&1)
like "$out" "^banner: 220 plain " "with a good config, SMTP to an unmapped domain's MX passes"
done_testing
