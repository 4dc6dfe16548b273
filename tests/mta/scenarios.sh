# The scenarios every real-MTA test runs (tests/integ/postfix.sh, exim.sh,
# opensmtpd.sh through the SOCKS stand-in; tor_postfix.sh, tor_exim.sh,
# tor_opensmtpd.sh through the private Tor network), written once. Source after
# tests/mta/common.sh; each script sets up its MTA, defines the adapter below,
# calls the scenarios and adds the checks only its MTA has.
#
# The adapter, given by the calling script:
#   mta_adapter NAME LOG BOUNCED_RE [FLUSH_DESC [PROC_RE]]
#     NAME                the MTA's name in descriptions (Postfix, Exim, OpenSMTPD)
#     LOG                 the file the MTA logs deliveries to
#     BOUNCED_RE          ERE of a bounce in LOG
#     FLUSH_DESC          what mta_flush runs, for its check's description
#     PROC_RE             ERE of the syslog tag of the MTA's delivering process
#                         (the through-Tor scenarios)
#   and the functions
#   mta_deferred_re DRE   prints the ERE of a deferral in LOG of a message for
#                         user@DRE.example (DRE itself an ERE)
#   queue_count           prints how many messages are on the MTA's queue
#   mta_flush             retries the queue now (status: whether it could)
#
# Sinks, SOCKS log and DNS log are those of tests/mta/common.sh.

mta_adapter() {
	MTA_NAME=$1 MTA_LOG=$2 MTA_BOUNCED_RE=$3 MTA_FLUSH_DESC=${4:-} MTA_PROC_RE=${5:-}
}
log_count() { grep -cE -- "$1" "$MTA_LOG" 2>/dev/null || true; } # log_count ERE
log_count_at_least() { [ "$(log_count "$1")" -ge "$2" ]; }
queue_is() { [ "$(queue_count)" = "$1" ]; }

# DNS questions the server heard about a mapped domain (EXTRA: more names, an
# ERE alternative), an onion or a synthetic address (240.0.0.0/4 reversed).
leaked_queries() { # leaked_queries [EXTRA]
	dns_queries | grep -E " (mapped|m[0-9]{2}${1:+|$1})\.example$|\.onion$|\.(24[0-9]|25[0-5])\.in-addr\.arpa$"
}

# Each of DOMAINS (m04 ...) is onion-sink mail exactly once (for user@D.example);
# prints those that are not.
once_at_onion() {
	local d
	for d; do
		[ "$(sink_subjects onion | grep -c " user@$d\.example$")" = 1 ] || echo "$d"
	done
}

# The SOCKS server was asked for each of DOMAINS' onions; prints those it was not.
asked_of_socks() {
	local d
	for d; do
		grep -q "^CONNECT host=$(onion_of "$d.example")\.onion port=25" "$T/socks.log" || echo "$d"
	done
}

# --- Through the SOCKS stand-in ------------------------------------------

# Mapped mail (mapped.example, m01.example) reaches the onion sink through
# SOCKS requests naming their onions, unmapped mail (u01.example) its own MX
# directly; DNS hears nothing of the mapped domains, onions or synthetic
# addresses, while (the control) it does hear the unmapped domain's MX question.
# Sets ONION_M01.
scenario_first_delivery() {
	local out
	ONION_M01=$(onion_of m01.example)
	printf '%s\n' "user@mapped.example first-mapped" "user@m01.example first-m01" \
		"user@u01.example first-plain" >"$T/first"
	out=$(submit "$T/first")
	is "$out" "submitted 3" "three messages accepted over SMTP"
	wait_for 20 count_at_least onion 2
	wait_for 10 count_at_least direct 1
	is "$(sink_subjects onion | sort | tr '\n' ,)" "first-m01 user@m01.example,first-mapped user@mapped.example," \
		"mail for mapped.example and m01.example arrived at the onion sink"
	is "$(sink_subjects direct)" "first-plain user@u01.example" "mail for the unmapped u01.example arrived at its own MX directly"
	like "$(socks_hosts)" "^$ONION1\.onion$" "the SOCKS request for mapped.example named its onion"
	like "$(socks_hosts)" "^$ONION_M01\.onion$" "the SOCKS request for m01.example named its onion"
	is "$(leaked_queries)" "" "the DNS server heard no question about a mapped domain, an onion or a synthetic address"
	like "$(dns_queries)" "^MX u01\.example$" "control: it heard the unmapped domain's MX question"
}

# mta_stats EXPR: EXPR (Python) over onionmx-stats --json, with d the whole
# report and dm each domain's routes.
mta_stats() {
	"$B/tools/onionmx-stats" --json | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); dm={x['domain']: x['routes'] for x in d['domains']}; print($1)"
}

# After scenario_first_delivery: the MTA's delivering processes counted their
# two onion connections into the shared statistics, and each domain's route.
scenario_first_stats() {
	is "$(mta_stats "d['total']['succeeded'], d['total']['tried']")" "2 2" \
		"statistics: $MTA_NAME's delivering processes counted their two onion connections, both succeeded"
	is "$(mta_stats "dm['m01.example']['map'] > 0, dm['u01.example']['mx'] > 0")" "True True" \
		"statistics: m01.example's MX from the map, u01.example's from DNS"
}

# scenario_tor_down "ALL" ["SUBMIT"]: Tor (the SOCKS server) stops; messages
# for the domains SUBMIT (default ALL; m04 ...: each its own onion) are
# submitted, and with those already queued every one of ALL is deferred: on the
# queue, the library's cause in the log for each submitted one, nothing
# bounced, nothing at the onion sink nor at the clearnet MX. Sets SCEN_BEFORE_ONION.
scenario_tor_down() {
	local all=($1) submit=(${2:-$1}) n d re
	n=${#all[@]}
	re=$(printf '%s|' "${all[@]}")
	re=$(mta_deferred_re "(${re%|})")
	stop_socks
	SCEN_BEFORE_ONION=$(sink_count onion)
	for d in "${submit[@]}"; do echo "user@$d.example down-$d"; done >"$T/down"
	submit "$T/down" >/dev/null
	wait_for 30 log_count_at_least "$re" "$n"
	is "$(log_count "$re")" "$n" "Tor down: $MTA_NAME deferred all $n messages"
	wait_for 10 queue_is "$n"
	is "$(queue_count)" "$n" "$n messages on the queue"
	for d in "${submit[@]}"; do
		grep -q "onionmx: cannot connect to $(onion_of "$d.example")\.onion port 25 .* via Tor 127\.0\.0\.1:9050: cannot connect to Tor's SOCKS port (is Tor running?)" "$SYSLOG" || echo "$d"
	done >"$T/nocause"
	is "$(cat "$T/nocause")" "" "the library logged why for each of the ${#submit[@]} onions it was asked for (is Tor running?)"
	is "$(log_count "$MTA_BOUNCED_RE")" 0 "nothing bounced"
	is "$(sink_count onion)" "$SCEN_BEFORE_ONION" "nothing reached the onion sink while Tor was down"
	is "$(sink_connections clearnet)$(sink_connections clearnet2)" 00 "nor the clearnet MX (either address)"
}

# scenario_tor_back "ALL": Tor starts again and the MTA retries its queue: each
# of ALL's messages arrives at the onion sink exactly once, through a SOCKS
# request for its onion, and the queue is empty.
scenario_tor_back() {
	local all=($1) n
	n=${#all[@]}
	start_socks relay -r 127.0.0.40:25 || exit 1
	mta_flush
	ok $? "$MTA_FLUSH_DESC"
	wait_for 60 count_at_least onion $((SCEN_BEFORE_ONION + n))
	is "$(sink_count onion)" $((SCEN_BEFORE_ONION + n)) "Tor back: the $n deferred messages arrived at the onion sink"
	is "$(once_at_onion "${all[@]}")" "" "each of them exactly once"
	wait_for 10 queue_is 0
	is "$(queue_count)" 0 "the queue is empty"
	is "$(asked_of_socks "${all[@]}")" "" "the SOCKS server was asked for each of their onions"
}

# scenario_exactly_once PER_SESSION ROUNDS "MAPPED" "UNMAPPED": in each of
# ROUNDS rounds one message to each of the MAPPED and UNMAPPED domains (m01 ...,
# u01 ...; a name may repeat), PER_SESSION to an SMTP session: each at the
# right sink exactly once, the queue empty, every mapped domain's onion asked
# of the SOCKS server.
scenario_exactly_once() {
	local per_session=$1 rounds=$2 mapped=($3) unmapped=($4) before_onion before_direct
	local t0 out n k d total s
	before_onion=$(sink_count onion)
	before_direct=$(sink_count direct)
	for n in $(seq -w 1 "$rounds"); do
		k=0
		for d in "${mapped[@]}" "${unmapped[@]}"; do
			k=$((k + 1))
			echo "rcpt$n-$k@$d.example bulk-$d-$n-$k"
		done
	done >"$T/bulk"
	total=$(wc -l <"$T/bulk")
	t0=$SECONDS
	out=$(submit "$T/bulk" "$per_session")
	is "$out" "submitted $total" "$total messages accepted, $per_session per SMTP session"
	wait_for 180 count_at_least onion $((before_onion + rounds * ${#mapped[@]}))
	wait_for 60 count_at_least direct $((before_direct + rounds * ${#unmapped[@]}))
	wait_for 30 queue_is 0
	echo "# $total messages delivered in $((SECONDS - t0)) s"
	sink_subjects onion | grep '^bulk-' | sort >"$T/bulk.onion"
	sink_subjects direct | grep '^bulk-' | sort >"$T/bulk.direct"
	grep '@m' "$T/bulk" | awk '{ print $2, $1 }' | sort >"$T/want.onion"
	grep '@u' "$T/bulk" | awk '{ print $2, $1 }' | sort >"$T/want.direct"
	for s in onion direct; do
		cmp -s "$T/bulk.$s" "$T/want.$s"
		ok $? "the $(wc -l <"$T/want.$s") messages for $([ $s = onion ] && echo mapped || echo unmapped) domains are at the $s sink, each exactly once"
		cmp -s "$T/bulk.$s" "$T/want.$s" || diff "$T/want.$s" "$T/bulk.$s" | head -5 | sed 's/^/#   /'
	done
	is "$(queue_count)" 0 "the queue is empty"
	is "$(asked_of_socks $(printf '%s\n' "${mapped[@]}" | sort -u))" "" "every mapped domain's onion was asked of the SOCKS server"
}

# scenario_map_rebuilt DOMAIN BEFORE [HOOK]: DOMAIN (in DNS, with the direct MX)
# is added to the map while the MTA runs. With BEFORE=before, a message sent
# first goes to its own MX (control: DNS heard its MX question). After the
# rebuild a message for it goes to the onion sink (HOOK, if given, is called as
# "HOOK before DOMAIN" just before the rebuild and "HOOK after DOMAIN" once the
# message is submitted: what the MTA must be made to do first, with its own
# checks), through
# a SOCKS request for its new onion, not to its old MX, and DNS hears nothing
# more about DOMAIN. Sets SCEN_DNS_BEFORE, SCEN_BEFORE_ONION, SCEN_BEFORE_DIRECT.
scenario_map_rebuilt() {
	local domain=$1 before=$2 hook=${3:-} dre
	dre=$(printf '%s' "$domain" | sed 's/\./\\./g')
	SCEN_BEFORE_DIRECT=$(sink_count direct)
	if [ "$before" = before ]; then
		echo "user@$domain before-move" >"$T/moved1"
		submit "$T/moved1" >/dev/null
		wait_for 20 count_at_least direct $((SCEN_BEFORE_DIRECT + 1))
		SCEN_BEFORE_DIRECT=$((SCEN_BEFORE_DIRECT + 1))
		is "$(sink_count direct)" "$SCEN_BEFORE_DIRECT" "$domain, not in the map yet, went to its own MX"
	fi
	SCEN_DNS_BEFORE=$(dns_queries | grep -c "$dre$")
	if [ "$before" = before ]; then
		[ "$SCEN_DNS_BEFORE" -ge 1 ]
		ok $? "control: the DNS log shows $MTA_NAME asking about $domain ($SCEN_DNS_BEFORE queries)"
	fi
	[ -z "$hook" ] || "$hook" before "$domain"
	echo "$domain ${ONION_MOVED}.onion" >>/etc/onionmx/domains
	"$MAPTOOL" /etc/onionmx/domains >/dev/null
	ok $? "onionmx-map rebuilt the map with $domain while $MTA_NAME runs"
	sleep 1.2 # the library looks at the map at most once a second
	SCEN_BEFORE_ONION=$(sink_count onion)
	echo "user@$domain after-move" >"$T/moved2"
	submit "$T/moved2" >/dev/null
	[ -z "$hook" ] || "$hook" after "$domain"
	wait_for 30 count_at_least onion $((SCEN_BEFORE_ONION + 1))
	is "$(sink_count onion)" $((SCEN_BEFORE_ONION + 1)) "the message for $domain sent after the rebuild arrived at the onion sink"
	like "$(sink_subjects onion)" "^after-move user@$dre$" "it is that message"
	like "$(socks_hosts)" "^$ONION_MOVED\.onion$" "through a SOCKS request for its new onion"
	is "$(sink_count direct)" "$SCEN_BEFORE_DIRECT" "and not at its old MX"
	is "$(dns_queries | grep -c "$dre$")" "$SCEN_DNS_BEFORE" "DNS heard nothing about $domain after the change"
}

# What must never happen, over the whole run: DNS questions about mapped
# domains (EXTRA: more, an ERE alternative), onions or synthetic addresses
# (control: the unmapped domain's MX question was heard), a connection to the
# clearnet MX of the mapped domains, a bounce.
scenario_never() { # scenario_never [EXTRA]
	is "$(leaked_queries "${1:-}")" "" "the DNS server saw no query for a mapped domain, an onion or a synthetic address"
	like "$(dns_queries)" "^MX u01\.example$" "control: while $MTA_NAME did ask it about the unmapped domain"
	is "$(sink_connections clearnet)" 0 "the clearnet MX of the mapped domains (127.0.0.20) saw no connection"
	is "$(sink_connections clearnet2)" 0 "nor its second address (198.18.0.20)"
	is "$(sink_count bounces)" 0 "no bounce reached the sender's domain"
	is "$(log_count "$MTA_BOUNCED_RE")" 0 "$MTA_NAME's log has no bounce"
}

# --- Onion MX discovery (discover = srv, tests/mta/common.sh's mta_discovery) -

# d01.example is in no map and publishes its onion in _onion-mx._tcp SRV (port
# 2525); its clearnet MX is the trap one. Its message arrives at the onion
# sink through SOCKS on the SRV record's port. Sets SCEN_BEFORE_ONION.
scenario_discovery_first() {
	SCEN_BEFORE_ONION=$(sink_count onion)
	echo "user@d01.example disc-1" >"$T/disc1"
	submit "$T/disc1" >/dev/null
	wait_for 20 count_at_least onion $((SCEN_BEFORE_ONION + 1))
	is "$(sink_count onion)" $((SCEN_BEFORE_ONION + 1)) "discovery: mail for d01.example (in no map) arrived at the onion sink"
	like "$(sink_subjects onion)" "^disc-1 user@d01\.example$" "discovery: it is the message for d01.example"
	like "$(grep "^CONNECT host=$ONION_D01\.onion " "$T/socks.log")" "port=2525( |$)" \
		"discovery: through SOCKS to the SRV record's onion, on the SRV record's port (2525)"
}

# scenario_discovery_cache ADDR: DNS was asked d01.example's SRV record once
# and never its MX; the shared cache is root's; a fresh process resolves the
# onion to ADDR, the address the MTA's delivery used.
scenario_discovery_cache() {
	local out
	is "$(dns_query_count _onion-mx._tcp.d01.example SRV dnsmasq)" 1 "DNS was asked for d01.example's SRV record once"
	# Its MX is asked once, by the library, to look for DANE (an unsigned SRV
	# answer must not override a validated MX with TLSA), and never used.
	is "$(dns_query_count d01.example MX dnsmasq)" 1 "and its clearnet MX only once, for the DANE check"
	is "$(stat -c '%U %a' "$DISCOVERY_CACHE" 2>/dev/null)" "root 600" "the shared cache $DISCOVERY_CACHE is root's, mode 600"
	out=$(LD_PRELOAD=libonionmx.so getent ahostsv4 "$ONION_D01.onion" 2>&1 | awk '{ print $1; exit }')
	is "$out" "$1" "a fresh process resolves the onion to the address the delivery used (from the shared cache)"
}

# A second message for d01.example, from another delivery process: at the
# onion sink, and still one SRV query (the answer came from the shared cache).
scenario_discovery_second() {
	echo "user@d01.example disc-2" >"$T/disc2"
	submit "$T/disc2" >/dev/null
	wait_for 20 count_at_least onion $((SCEN_BEFORE_ONION + 2))
	is "$(sink_count onion)" $((SCEN_BEFORE_ONION + 2)) "discovery: a second message for d01.example arrived at the onion sink"
	is "$(dns_query_count _onion-mx._tcp.d01.example SRV dnsmasq)" 1 "still one SRV query: the second delivery process used the shared cache"
}

# servfail.example's SRV lookup fails (its server answers SERVFAIL): the
# message is deferred, the library logs why, the query did reach the failing
# server (the control), its clearnet MX is never looked up, nothing bounced,
# nothing at the onion sink.
scenario_srv_fail() {
	local out before_onion
	before_onion=$(sink_count onion)
	echo "user@servfail.example srv-fail" >"$T/srvfail"
	out=$(submit "$T/srvfail")
	is "$out" "submitted 1" "a message for servfail.example accepted"
	wait_for 20 log_count_at_least "$(mta_deferred_re servfail)" 1
	like "$(grep 'onionmx:' "$SYSLOG")" \
		"onionmx: _onion-mx\._tcp\.servfail\.example SRV lookup failed: SERVFAIL .*; deferring its MX lookup" \
		"the library logged why"
	[ "$(dns_query_count _onion-mx._tcp.servfail.example SRV evil)" -ge 1 ]
	ok $? "control: the SRV query did reach servfail.example's failing server"
	is "$(dns_query_count servfail.example MX dnsmasq)" 0 "no MX query for servfail.example: its clearnet MX never looked up"
	is "$(log_count "$MTA_BOUNCED_RE")" 0 "nothing bounced"
	is "$(sink_count onion)" "$before_onion" "nothing reached the onion sink"
}

# --- An unprivileged user's own config ------------------------------------

# their_config: nobody's own map (mapped.example -> their onion, EVIL) and
# config naming it, in $T/theirs and $T/theirs.conf, owned by nobody.
their_config() {
	EVIL=$("$H/onion_gen" theirs)
	printf 'mapped.example %s.onion\n' "$EVIL" >"$T/theirs"
	"$MAPTOOL" "$T/theirs" >/dev/null
	printf 'socks = 127.0.0.1:9050\nmap = %s/theirs.cdb\nlog = stderr\nlog_level = debug\n' "$T" >"$T/theirs.conf"
	chown nobody "$T/theirs" "$T/theirs.cdb" "$T/theirs.conf"
}

# as_nobody TRACEFILE COMMAND...: COMMAND as nobody with LD_PRELOAD=libonionmx.so
# and their ONIONMX_CONF, under strace (set-id honoured) tracing
# AS_NOBODY_TRACE (default: file system calls) into TRACEFILE.
as_nobody() {
	local f=$1
	shift
	strace -f -qq -u nobody -e trace="${AS_NOBODY_TRACE:-%file}" -o "$f" \
		-E LD_PRELOAD=libonionmx.so -E ONIONMX_CONF="$T/theirs.conf" "$@" 2>&1
}

# --- Through the private Tor network ---------------------------------------

# scenario_tor_first TAG: a message for mapped.example (onion 1) and one for
# u01.example: the first arrives behind the onion service, through the client
# tor (its stream events: onion 1's isolation credentials), the library's line
# naming onion, domain and Tor; the second at its own MX directly.
scenario_tor_first() {
	local tag=$1 out t0 line
	tornet_events "$T/events" STREAM
	printf '%s\n' "user@mapped.example $tag-through-tor" "user@u01.example $tag-direct" >"$T/msg"
	out=$(submit "$T/msg")
	is "$out" "submitted 2" "$MTA_NAME accepted a message for user@mapped.example and one for user@u01.example"
	t0=$(date +%s)
	wait_for 60 count_at_least onion 1
	is "$(sink_subjects onion)" "$tag-through-tor user@mapped.example" \
		"the message arrived at the onion sink, behind the onion service ($(($(date +%s) - t0))s)"
	wait_for 20 count_at_least direct 1
	is "$(sink_subjects direct)" "$tag-direct user@u01.example" "the unmapped domain's message went to its own MX"
	wait_for 10 grep -q "onionmx: connected to $TOR_ONION1\.onion" "$SYSLOG"
	line=$(grep "onionmx: connected to $TOR_ONION1\.onion" "$SYSLOG" | head -1)
	like "$line" "$MTA_PROC_RE: onionmx: connected to $TOR_ONION1\.onion port 25 \(MX of mapped\.example\) via Tor 127\.0\.0\.1:9050 in [0-9.]+s" \
		"the library's line in the mail log names onion, domain and Tor"
	echo "# $(printf '%s\n' "$line" | sed 's/^<[0-9]*>//')"
	tor_stream_check
}

# scenario_tor_discovered TAG: good.example is in no map and publishes onion 2
# as _onion-mx._tcp SRV: its message arrives behind onion 2 through real Tor,
# and the library logs the discovery.
scenario_tor_discovered() {
	local tag=$1
	echo "user@good.example $tag-discovered-through-tor" >"$T/msg2"
	submit "$T/msg2" >/dev/null
	ok $? "$MTA_NAME accepted a message for user@good.example (found by SRV discovery)"
	wait_for 60 count_at_least onion2 1
	is "$(sink_subjects onion2)" "$tag-discovered-through-tor user@good.example" \
		"the message for the discovered domain arrived behind onion 2, through real Tor"
	wait_for 10 grep -q 'onionmx: discovered onion MX for good.example' "$SYSLOG"
	like "$(grep 'onionmx: discovered onion MX for good.example' "$SYSLOG")" "$TOR_ONION2\.onion" \
		"the library logged the discovery"
}

# What must never happen through Tor: the clearnet MX or a bounce; a DNS
# question about mapped.example (EXTRA: more, an ERE alternative), an onion or
# a synthetic address (control: u01.example's MX question was heard).
scenario_tor_never() { # scenario_tor_never [EXTRA]
	is "$(sink_connections clearnet)$(sink_connections clearnet2)" 00 \
		"the clearnet MX of the mapped domains saw no connection (either address)"
	is "$(sink_count bounces)" 0 "no bounce"
	unlike "$(dns_queries)" " (mapped${1:+|$1})\.example$|\.onion$|\.(24[0-9]|25[0-5])\.in-addr\.arpa$" \
		"the DNS server saw no query about mapped.example, an onion or a synthetic address"
	like "$(dns_queries)" "^MX u01\.example$" "control: it saw the unmapped domain's MX query"
}
