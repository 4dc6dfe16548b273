#!/bin/bash
# make deb builds a package lintian finds no error in; inside a private
# namespace whose /etc, /usr, /var are overlays (tests/mta/common.sh), it is
# installed the README's way (apt install ./onionmx_*.deb), upgraded over
# itself, its library's set-user-ID bit removed and restored with
# dpkg-statoverride (kept across an upgrade), an operator's edit of a conffile
# kept, an Exim already running left alone (never restarted), and purged: the
# file tree is then as before, file for file. Installed again, Debian's Exim
# started with LD_PRELOAD=libonionmx.so delivers a mapped domain's mail to its
# onion through the package's library (secure mode: the setuid re-execs of
# exim4 load it from the multiarch directory, mode 4644).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mta/common.sh"
mta_skip_san
for tool in dpkg-deb lintian apt-get exim4; do
	if ! command -v "$tool" >/dev/null; then
		echo "ok 1 - # SKIP $tool is not installed (sh tests/deps.sh)"
		echo "1..1"
		exit 0
	fi
done
mta_enter "$@"

# --- make deb, lintian ---
DEB=$(cd "$TOP" && sh tools/deb/build.sh "$T" 2>"$T/build.err")
ok $? "make deb (tools/deb/build.sh) builds $(basename "$DEB")"
[ -s "$DEB" ] || { cat "$T/build.err" >&2; done_testing; exit 1; }
lintian --pedantic -I "$DEB" >"$T/lintian" 2>&1
grep -v '^running with root' "$T/lintian" | sed 's/^/# lintian: /'
is "$(grep -c '^E:' "$T/lintian")" 0 "lintian --pedantic: no error"
grep -q '^[EW]: onionmx' "$T/lintian"
ok $((!$?)) "lintian --pedantic: no warning either (the overrides are justified in the package)"
LIBPATH=${MTA_LIBDIR#/}/libonionmx.so
like "$(dpkg-deb -c "$DEB" | grep " ./$LIBPATH$")" '^-rwSr--r-- root/root ' \
	"the package carries the library set-user-ID, mode 4644, root's"
like "$(readelf -dW "$TOP/build/deb/root/$LIBPATH")" 'SONAME.*\[libonionmx\.so\]' \
	"the library's SONAME is its file name"
for f in "$LIBPATH" usr/sbin/onionmx-map usr/sbin/onionmx-check usr/bin/onionmx; do
	readelf -lW "$TOP/build/deb/root/$f" | grep -q GNU_RELRO &&
		readelf --dyn-syms -W "$TOP/build/deb/root/$f" | grep -q '__stack_chk_fail' &&
		readelf --dyn-syms -W "$TOP/build/deb/root/$f" | grep -Eq '__[a-z_]+_chk@'
	ok $? "dpkg-buildflags' hardening in ${f##*/}: RELRO, stack protector, _FORTIFY_SOURCE checks"
done
like "$(dpkg-deb -f "$DEB" Depends)" '^libc6 \(>= 2\.[0-9]+\)$' "Depends from dpkg-shlibdeps: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$T/conffiles"
is "$(tr '\n' ' ' <"$T/conffiles")" "/etc/onionmx/domains /etc/onionmx/onionmx.conf " "conffiles: /etc/onionmx/*"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./postinst ./postrm >"$T/scripts"
grep -Eq 'systemctl restart' "$T/scripts"
ok $? "the postinst tells the operator to restart the MTA (control for the pattern below)"
grep -v '^[[:space:]]*echo' "$T/scripts" |
	grep -Eq 'invoke-rc\.d|service |systemctl +(re)?start|systemctl restart|try-restart|reload-or|/etc/init\.d/'
ok $((!$?)) "the maintainer scripts have no command that (re)starts a service"

# --- the system before: every path, its type, mode and owner; contents of
# files outside /usr. What dpkg, apt, ldconfig and man-db keep as logs and caches
# of their own is left out.
snapshot() {
	find /etc /usr /var -xdev \( -path /var/log -o -path /var/cache/man -o -path /var/cache/apt \
		-o -path /var/cache/ldconfig -o -path /var/cache/debconf -o -path /var/lib/dpkg/triggers \
		-o -name '*-old' -o -path /var/lib/dpkg/lock -o -path /var/lib/dpkg/lock-frontend \
		-o -path /var/lib/apt/lists/lock -o -path /var/cache/apt/archives/lock \) -prune -o \
		\( -type d -printf '%p d %m %U:%G\n' \) -o \( -type l -printf '%p l %l\n' \) -o \
		\( -type f -printf '%p f %m %U:%G %s\n' \) -o -printf '%p %y\n' | LC_ALL=C sort
	find /etc /var -xdev \( -path /var/log -o -path /var/cache -o -path /var/lib/dpkg/triggers \
		-o -name '*-old' \) -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum
}
mta_private_root || exit 1
snapshot >"$T/before"

# --- install, the README's way; the package leaves a running MTA alone ---
mta_exim_prepare
env -i PATH="$MTA_PATH" /etc/init.d/exim4 start >/dev/null 2>&1
wait_for 10 test -s /run/exim4/exim.pid
EXIM_BEFORE=$(cat /run/exim4/exim.pid 2>/dev/null)
alive "$EXIM_BEFORE"
ok $? "an Exim daemon runs before the install (pid $EXIM_BEFORE)"
env -i PATH="$MTA_PATH" DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	"$DEB" >"$T/apt.out" 2>&1
st=$?
ok $st "apt-get install ./$(basename "$DEB")"
[ "$st" = 0 ] || sed 's/^/# /' "$T/apt.out"
is "$(dpkg-query -W -f='${Status}' onionmx 2>/dev/null)" "install ok installed" "dpkg: onionmx installed"
is "$(stat -c '%a %U:%G' "$MTA_LIBDIR/libonionmx.so")" "4644 root:root" "library installed 4644 root:root in $MTA_LIBDIR"
test -s /etc/onionmx/domains.cdb && "$MAPTOOL" -q nothing.example /etc/onionmx/domains.cdb >/dev/null 2>&1
is $? 1 "postinst compiled the example map (a valid, empty map)"
test -d /var/lib/onionmx && test -x /usr/sbin/onionmx-map && test -x /usr/sbin/onionmx-check && test -x /usr/bin/onionmx
ok $? "/var/lib/onionmx and the tools are in place"
man -w onionmx-map >/dev/null 2>&1 && test -s /usr/share/man/man5/onionmx.conf.5.gz
ok $? "man pages installed"
test -s /lib/systemd/system/exim4.service.d/onionmx.conf && test -s /lib/systemd/system/postfix@.service.d/onionmx.conf
ok $? "the systemd drop-ins for exim4 and postfix@ are installed"
snapshot >"$T/installed"
grep -Eq "^/etc/onionmx/domains\.cdb f|^$MTA_LIBDIR/libonionmx\.so f|  /etc/onionmx/onionmx\.conf$" "$T/installed" &&
	[ "$(grep -Ec "^/etc/onionmx/domains\.cdb f|^$MTA_LIBDIR/libonionmx\.so f|  /etc/onionmx/onionmx\.conf$" "$T/installed")" = 3 ]
ok $? "control: the snapshot sees the installed files (generated map, library, a conffile's contents)"
is "$(cat /run/exim4/exim.pid 2>/dev/null)" "$EXIM_BEFORE" "the running Exim was not restarted (same pid)"
grep -q libonionmx "/proc/$EXIM_BEFORE/maps" 2>/dev/null
ok $((!$?)) "and it has not loaded the library"

# --- an operator's edit, upgrades over itself, dpkg-statoverride ---
echo "# edited by the operator" >>/etc/onionmx/onionmx.conf
cp /etc/onionmx/domains.cdb "$T/cdb.before"
dpkg -i "$DEB" >"$T/dpkg.out" 2>&1 </dev/null
st=$?
ok $st "dpkg -i over the installed package (upgrade to the same version)"
[ "$st" = 0 ] || sed 's/^/# /' "$T/dpkg.out"
grep -q "edited by the operator" /etc/onionmx/onionmx.conf
ok $? "the operator's edit of onionmx.conf (a conffile) is kept"
cmp -s /etc/onionmx/domains.cdb "$T/cdb.before"
ok $? "the compiled map is not rebuilt by an upgrade"
is "$(cat /run/exim4/exim.pid 2>/dev/null)" "$EXIM_BEFORE" "the upgrade did not restart Exim either"
dpkg-statoverride --update --add root root 0644 "$MTA_LIBDIR/libonionmx.so"
is "$(stat -c %a "$MTA_LIBDIR/libonionmx.so")" 644 "dpkg-statoverride --update removes the set-user-ID bit"
dpkg -i "$DEB" >"$T/dpkg.out" 2>&1 </dev/null
ok $? "upgrade again with the override in place"
is "$(stat -c %a "$MTA_LIBDIR/libonionmx.so")" 644 "the override survives the upgrade (postinst honours it)"
dpkg-statoverride --remove "$MTA_LIBDIR/libonionmx.so"
dpkg -i "$DEB" >"$T/dpkg.out" 2>&1 </dev/null
is "$(stat -c %a "$MTA_LIBDIR/libonionmx.so")" 4644 "override removed, the next upgrade restores 4644"

# --- purge: the system as before ---
env -i PATH="$MTA_PATH" /etc/init.d/exim4 stop >/dev/null 2>&1
dpkg --purge onionmx >"$T/dpkg.out" 2>&1 </dev/null
st=$?
ok $st "dpkg --purge onionmx"
[ "$st" = 0 ] || sed 's/^/# /' "$T/dpkg.out"
test ! -e /etc/onionmx && test ! -e /var/lib/onionmx && test ! -e "$MTA_LIBDIR/libonionmx.so"
ok $? "/etc/onionmx, /var/lib/onionmx and the library are gone"
# Exim's own state (its log, spool, hints, generated config) is Exim's doing.
snapshot | grep -Ev '(^| )/(var/(spool|lib)/exim4|etc/exim4)(/| |$)' >"$T/after"
grep -Ev '(^| )/(var/(spool|lib)/exim4|etc/exim4)(/| |$)' "$T/before" >"$T/before.f"
diff "$T/before.f" "$T/after" >"$T/diff"
st=$?
ok $st "after install, upgrades and purge every file is as before ($(wc -l <"$T/before.f") entries compared)"
[ "$st" = 0 ] || head -20 "$T/diff" | sed 's/^/# /'
grep -q '/etc/ld.so.cache' "$T/before.f" && grep -q '/usr/lib/x86_64-linux-gnu/libc.so.6' "$T/before.f"
ok $? "the comparison covers /etc's contents and /usr's files (control)"
grep -Eq "^/etc/onionmx|libonionmx" "$T/before.f"
ok $((!$?)) "nothing of onionmx was there before"

# --- installed again: Exim delivers through the package's library ---
dpkg -i "$DEB" >"$T/dpkg.out" 2>&1 </dev/null
ok $? "installed again"
start_syslog /dev/log || exit 1
mta_start_dns || exit 1
mta_start_servers || exit 1
ONION1=$("$H/onion_gen" deb-one)
echo "mapped.example $ONION1.onion" >/etc/onionmx/domains
/usr/sbin/onionmx-map /etc/onionmx/domains >/dev/null
ok $? "the package's onionmx-map compiles the map"
cat >/etc/onionmx/onionmx.conf <<EOM
socks = 127.0.0.1:9050
map = /etc/onionmx/domains.cdb
timeout = 10
log = syslog
log_level = info
EOM
rm -rf /var/spool/exim4/input/* /var/spool/exim4/db/* /var/log/exim4/*
env -i PATH="$MTA_PATH" LD_PRELOAD=libonionmx.so /etc/init.d/exim4 start >"$T/exim.out" 2>&1
MTA_STOP+=("env -i PATH=$MTA_PATH /etc/init.d/exim4 stop")
unlike "$(cat "$T/exim.out")" "cannot be preloaded" "Exim starts with LD_PRELOAD=libonionmx.so, no loader complaint"
wait_for 10 test -s /run/exim4/exim.pid
grep -q "$MTA_LIBDIR/libonionmx.so" "/proc/$(cat /run/exim4/exim.pid)/maps" 2>/dev/null
ok $? "the daemon has the package's library loaded"
printf '%s\n' "user@mapped.example via-the-package" "user@u01.example plain" >"$T/mail"
submit "$T/mail" >/dev/null
ok $? "two messages accepted over SMTP"
wait_for 30 count_at_least onion 1
wait_for 10 count_at_least direct 1
is "$(sink_count onion)" 1 "mail for mapped.example arrived at the onion sink (through SOCKS)"
is "$(sink_count direct)" 1 "mail for the unmapped u01.example went to its own MX (control)"
is "$(sink_count clearnet)$(sink_count clearnet2)" 00 "nothing reached mapped.example's clearnet MX"
like "$(cat /var/log/exim4/mainlog 2>/dev/null)" "=> user@mapped\.example .*H=$ONION1\.onion" \
	"Exim's log: delivered by a setuid re-exec of exim4 to the onion MX"
done_testing
