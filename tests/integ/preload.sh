#!/bin/bash
# System-wide install through /etc/ld.so.preload with "programs" naming the MTA's
# binaries: every program loads the library, the listed ones act with no
# LD_PRELOAD at all (a manual queue run from a root shell included), the others
# pass everything through, and none of them prints a word, even with a broken
# configuration (which then fails closed everywhere), or when /proc cannot be
# read to tell which program is which (then it acts everywhere).
. "$(dirname "$0")/../lib.sh"
skip_under_san "an ASan build cannot be loaded through /etc/ld.so.preload"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
install_in_namespace || exit 1
cp "$T/domains.cdb" /etc/onionmx/domains.cdb
printf 'map = /etc/onionmx/domains.cdb\nprograms = %s\n' "$H/self_report" >/etc/onionmx/onionmx.conf
unset ONIONMX_CONF
echo "$(sys_libdir)/libonionmx.so" >/etc/ld.so.preload

out=$("$H/self_report" mapped.example 2>&1)
like "$out" "^loaded=yes" "a listed program loads the library from /etc/ld.so.preload"
like "$out" "^LD_PRELOAD=$" "with no LD_PRELOAD in its environment"
like "$out" "^mx=$ONION1\.onion" "and acts: the mapped domain's MX is its onion"
out=$("$H/resolv_probe" nsearch mapped.example MX 2>&1)
like "$out" "answer MX 10 mx\.mapped\.example" "an unlisted program passes the same lookup to DNS"
grep -q libonionmx /proc/self/maps
ok $? "(the library is loaded into unlisted programs too, e.g. grep)"
is "$(ls -d /etc/onionmx 2>&1)" "/etc/onionmx" "an ordinary command's output is untouched"

# A /proc that cannot be read (a tmpfs over it): which program this is cannot be
# told, so the library acts in every program rather than go inert in the MTA.
out=$(unshare --mount sh -c 'mount -t tmpfs none /proc && exec "$@"' sh "$H/resolv_probe" nsearch mapped.example MX 2>&1)
like "$out" "answer MX 10 $ONION1\.onion" "/proc hidden: the program cannot be identified, so the library acts (fail closed)"

printf 'map = /etc/onionmx/domains.cdb\nprograms = %s\nbogus = 1\n' "$H/self_report" >/etc/onionmx/onionmx.conf
out=$(ls -d /etc/onionmx 2>&1)
is "$out" "/etc/onionmx" "broken config: ordinary commands print nothing extra (no stderr noise system-wide)"
out=$("$H/self_report" mapped.example 2>&1)
like "$out" "^mx=none" "broken config: the MTA's MX lookups fail temporarily"
unlike "$out" "onionmx:" "and the complaint goes to syslog, not the program's stderr"
out=$("$H/resolv_probe" nsearch plain.example MX 2>&1)
like "$out" "^rc=-1 h_errno=2" "broken config: every program fails closed (unknown which are MTAs)"
rm -f /etc/ld.so.preload
is "$(dns_queries | grep -c '^MX mapped\.example')" 1 "the DNS server saw mapped.example's MX only once: from the unlisted program"
done_testing
