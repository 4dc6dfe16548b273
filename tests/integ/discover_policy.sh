#!/bin/bash
# Discovery does not weaken stronger policies (srv_dnssec = prefer, the
# default): an unsigned _onion-mx._tcp answer is not used for a domain that
# publishes an MTA-STS policy (_mta-sts TXT) or DANE (a DNSSEC-validated MX
# with validated TLSA): the MTA gets the domain's MX, and the library's log and
# onionmx-check say why. Controls: the same unsigned SRV for a domain without
# MTA-STS, and a validated MX without TLSA, are routed to the onion. Real
# servers: unbound validating zones nsd serves, signed at test time.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
command -v unbound >/dev/null && command -v nsd >/dev/null && command -v ldns-signzone >/dev/null || {
	echo "ok 1 - # SKIP unbound, nsd or ldnsutils not installed (sh tests/deps.sh)"
	echo "1..1"
	exit 0
}
setup_map || exit 1
O_S=$("$H/onion_gen" pol-sts)
O_U=$("$H/onion_gen" pol-plain)
O_D=$("$H/onion_gen" pol-dane)
O_N=$("$H/onion_gen" pol-nodane)
O_V=$("$H/onion_gen" pol-signed)
TLSA_HEX=$(printf '%064d' 0 | tr 0 a)

start_dnssec_dns - <<EOM || exit 1
_onion-mx._tcp.sts.insecure.test. 300 SRV 0 5 25 $O_S.onion.
_mta-sts.sts.insecure.test. 300 TXT "v=STSv1; id=20240101"
sts.insecure.test. MX 10 mx.insecure.test.
_onion-mx._tcp.plain.insecure.test. 300 SRV 0 5 25 $O_U.onion.
_mta-sts.plain.insecure.test. 300 TXT "v=spf1 -all"
plain.insecure.test. MX 10 mx.insecure.test.
mx.insecure.test. A 127.0.0.30
zone _tcp.dane.secure.test insecure
_onion-mx._tcp.dane.secure.test. 300 SRV 0 5 25 $O_D.onion.
dane.secure.test. MX 10 mx.dane.secure.test.
mx.dane.secure.test. A 127.0.0.30
_25._tcp.mx.dane.secure.test. 300 TLSA 3 1 1 $TLSA_HEX
zone _tcp.nodane.secure.test insecure
_onion-mx._tcp.nodane.secure.test. 300 SRV 0 5 25 $O_N.onion.
nodane.secure.test. MX 10 mx.nodane.secure.test.
mx.nodane.secure.test. A 127.0.0.30
_onion-mx._tcp.signed.secure.test. 300 SRV 0 5 25 $O_V.onion.
_mta-sts.signed.secure.test. 300 TXT "v=STSv1; id=1"
signed.secure.test. MX 10 mx.nodane.secure.test.
EOM
{
	cat "$T/onionmx.conf"
	echo "discover = srv"
	echo "cache = $T/cache"
} >"$T/onionmx.conf.new" && mv "$T/onionmx.conf.new" "$T/onionmx.conf"
mx() { shim "$H/resolv_probe" nsearch "$1" MX 2>>"$T/lib.log"; }
CHECK=${CHECK_BIN:-$B/tools/onionmx-check}

# The DNS set-up itself: the SRV answers are unsigned, the DANE MX and TLSA signed.
out=$(dig +dnssec +noall +comments +answer _onion-mx._tcp.dane.secure.test SRV @127.0.0.1 2>&1)
like "$out" "SRV.*$O_D\.onion" "set-up: _onion-mx._tcp.dane.secure.test SRV is answered"
unlike "$out" "flags:[^;]* ad" "set-up: unsigned (no AD)"
out=$(dig +dnssec +noall +comments +answer _25._tcp.mx.dane.secure.test TLSA @127.0.0.1 2>&1)
like "$out" "flags:[^;]* ad" "set-up: its MX host's TLSA is validated (AD)"

# --- MTA-STS ---------------------------------------------------------------------
out=$(mx sts.insecure.test)
like "$out" "^answer MX 10 mx\.insecure\.test" "MTA-STS domain, unsigned SRV: the MTA gets its MX"
unlike "$out" "onion" "and no onion"
log=$(cat "$T/lib.log")
like "$log" "_onion-mx._tcp.sts.insecure.test: ignoring target $O_S\.onion: unsigned, and the domain publishes MTA-STS" \
	"the log names the target not used and why"
like "$log" "_onion-mx._tcp.sts.insecure.test: unsigned answer not used: the domain publishes MTA-STS.*using its MX" \
	"and that the MX is used"
out=$(mx plain.insecure.test)
like "$out" "^answer MX 10 $O_U\.onion" "control: the same unsigned SRV without MTA-STS is routed to the onion"

# --- DANE ------------------------------------------------------------------------
out=$(mx dane.secure.test)
like "$out" "^answer MX 10 mx\.dane\.secure\.test" "DANE domain (validated MX + TLSA), unsigned SRV: the MTA gets its MX"
like "$(cat "$T/lib.log")" "ignoring target $O_D\.onion: unsigned, and the domain publishes DANE" "the log says DANE"
out=$(mx nodane.secure.test)
like "$out" "^answer MX 10 $O_N\.onion" "control: a validated MX without TLSA: the unsigned SRV is used"

# --- a validated SRV answer counts -------------------------------------------------
out=$(mx signed.secure.test)
like "$out" "^answer MX 10 $O_V\.onion" "a validated SRV answer is used even with MTA-STS published"

# --- srv_dnssec = off: any answer, as documented ---------------------------------------
echo "srv_dnssec = off" >>"$T/onionmx.conf"
rm -f "$T/cache"
out=$(mx sts.insecure.test)
like "$out" "^answer MX 10 $O_S\.onion" "srv_dnssec = off: the unsigned SRV is used whatever the domain publishes"
sed -i '/^srv_dnssec = off$/d' "$T/onionmx.conf"

# --- names the search list expands get discovery too ---------------------------------
# (glibc would ask the expanded name's MX directly; the library walks the list
# itself and discovers for each candidate it reaches.)
rm -f "$T/cache"
printf 'nameserver 127.0.0.1\nsearch insecure.test\n' >"$T/resolv.conf"
out=$(mx plain)
like "$out" "^answer MX 10 $O_U\.onion" "search insecure.test: plain is plain.insecure.test, routed to its discovered onion"
out=$(mx sts)
like "$out" "^answer MX 10 mx\.insecure\.test" "search insecure.test: sts keeps its MX (MTA-STS)"
is "$(dns_query_count _onion-mx._tcp.plain.insecure.test SRV unbound)" 2 "its SRV asked once more (the cache was emptied), not once per walk step"
printf 'nameserver 127.0.0.1\n' >"$T/resolv.conf"

# --- onionmx-check shows it ---------------------------------------------------------
# The library's lookups above left the verdict, with its reason, in the shared
# cache, which onionmx-check reads.
out=$("$CHECK" sts.insecure.test 2>&1)
like "$out" "cache: +the answer below comes from the shared discovery cache" "onionmx-check: the verdict comes from the shared cache"
like "$out" "unusable: unsigned answer not used: the domain publishes MTA-STS" "onionmx-check: the SRV answer is not used, and why (the cached reason)"
# Looked up afresh (no cached verdict), the report also names each target.
rm -f "$T/cache"
out=$("$CHECK" sts.insecure.test 2>&1)
like "$out" "unusable: unsigned answer not used: the domain publishes MTA-STS" "onionmx-check, fresh lookup: the SRV answer is not used, and why"
like "$out" "$O_S\.onion: unsigned, and the domain publishes MTA-STS" "onionmx-check, fresh lookup: the target and the reason"
unlike "$out" "route: +onion" "onionmx-check: the route is not the onion"
out=$("$CHECK" plain.insecure.test 2>&1)
like "$out" "route: +onion" "onionmx-check, control: the route is the onion"
stop_dnssec_dns
done_testing
