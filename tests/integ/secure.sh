#!/bin/bash
# Secure mode. Installed as it must be for Exim's setuid re-execs (mode 4755 in
# /usr/lib/TRIPLET, e.g. x86_64-linux-gnu), any local user can preload the library into any
# setuid program. There it must be harmless: ONIONMX_CONF ignored, only the
# built-in config, which (like its map) must be root's and not writable by
# others, and no file the caller names is ever opened.
. "$(dirname "$0")/../lib.sh"
skip_under_san "the installed library in setuid programs cannot be an ASan build"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
install_in_namespace || exit 1
cp "$T/domains" /etc/onionmx/domains
"$MAPTOOL" /etc/onionmx/domains >/dev/null
printf 'map = /etc/onionmx/domains.cdb\nlog = stderr\n' >/etc/onionmx/onionmx.conf
chmod 644 /etc/onionmx/onionmx.conf /etc/onionmx/domains.cdb

# The caller's own config and map, which would send mapped.example elsewhere.
EVIL_ONION=$("$H/onion_gen" evil)
mkdir -p "$T/user" && chmod 777 "$T/user"
printf 'mapped.example %s.onion\n' "$EVIL_ONION" >"$T/user/domains"
"$MAPTOOL" "$T/user/domains" >/dev/null
printf 'map = %s/user/domains.cdb\nlog = stderr\n' "$T" >"$T/user/theirs.conf"
mkfifo -m 666 "$T/user/fifo.conf" # opening this for reading would block: a trap
chown -R nobody "$T/user"

install -o root -m 4755 "$H/self_report" "$T/suid_report"
# The same, not setuid, also in $T: nobody may not be able to enter the
# checkout (a fresh clone under mktemp -d is mode 0700).
install -m 755 "$H/self_report" "$T/self_report"
install -o root -m 4755 "$H/exec_probe" "$T/suid_exec"
as_nobody() { timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

out=$(as_nobody env LD_PRELOAD=libonionmx.so ONIONMX_CONF="$T/user/theirs.conf" "$T/suid_report" mapped.example 2>&1)
like "$out" "^loaded=yes" "setuid program, user nobody, LD_PRELOAD=libonionmx.so: the library loads (secure mode)"
like "$out" "^mx=$ONION1\.onion" "it uses the built-in config and root's map, not the caller's ONIONMX_CONF"
out=$(as_nobody env LD_PRELOAD=libonionmx.so ONIONMX_CONF="$T/user/fifo.conf" "$T/suid_report" mapped.example 2>&1)
status=$?
ok $([ "$status" != 124 ] && echo 0 || echo 1) "a FIFO named in ONIONMX_CONF is never opened (it would block)"
like "$out" "^mx=$ONION1\.onion" "and the answer still comes from root's config"
out=$(as_nobody env LD_PRELOAD=libonionmx.so ONIONMX_CONF="$T/user/theirs.conf" "$T/self_report" mapped.example 2>&1)
like "$out" "^mx=$EVIL_ONION\.onion" "(control: in a program that is not setuid, the user's own config applies to the user)"
out=$(as_nobody env LD_PRELOAD="$LIB" "$T/suid_report" 2>&1)
like "$out" "^loaded=no" "(control: a path in LD_PRELOAD is ignored by ld.so for setuid programs)"

out=$(as_nobody env LD_PRELOAD=libonionmx.so "$T/suid_exec" execve "$T/self_report" mapped.example 2>&1)
like "$out" "^loaded=yes" "a setuid program's emptied environment: the bare name is carried to what it runs"
like "$out" "^mx=$ONION1\.onion" "and that program answers from root's map"

chmod 666 /etc/onionmx/onionmx.conf
out=$(as_nobody env LD_PRELOAD=libonionmx.so "$T/suid_report" mapped.example 2>&1)
like "$out" "^mx=none" "a root config writable by others is refused in secure mode: MX lookups deferred, not sent to DNS"
out=$(ONIONMX_CONF= "$ONIONMX" -t 2>&1)
like "$out" "warning: /etc/onionmx/onionmx\.conf is not owned by root or is writable by others: setuid programs" \
	"onionmx -t warns the operator about it"
chmod 644 /etc/onionmx/onionmx.conf
chown nobody /etc/onionmx/domains.cdb
out=$(as_nobody env LD_PRELOAD=libonionmx.so "$T/suid_report" mapped.example 2>&1)
like "$out" "^mx=none" "a map not owned by root is refused in secure mode: MX lookups deferred"
out=$(as_nobody env LD_PRELOAD=libonionmx.so "$T/self_report" mapped.example 2>&1)
like "$out" "^mx=$ONION1\.onion" "(control: the same map is fine outside secure mode)"
chown root /etc/onionmx/domains.cdb
unlike "$(dns_queries)" "mapped\.example" "the DNS server never saw mapped.example"
done_testing
