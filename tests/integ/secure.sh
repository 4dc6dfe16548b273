#!/bin/bash
# Secure mode. Installed as it must be for Exim's setuid re-execs (mode 4755 in
# /usr/lib/TRIPLET, e.g. x86_64-linux-gnu), any local user can preload the library into any
# setuid program. There it must be harmless: ONIONMX_CONF ignored, only the
# built-in config, which (like its map) must be root's and not writable by
# others, and no file the caller names is ever opened, by the program or by
# what it runs once it made itself root; and root reads a config named by
# ONIONMX_CONF only if it is root's.
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

# --- A setuid program that becomes root entirely (setresuid(0, 0, 0), as su or a
# daemon shedding its setuid origin does), then runs another: that one is not in
# secure mode. The caller's ONIONMX_* must not reach it. Their config names a
# FIFO as the map (root opening it would hang) and, as the discovery cache, a
# path in a directory only root can write. Observed with strace over the whole
# process tree (set-id honoured: strace -u).
mkdir -p "$T/rootonly" && chmod 755 "$T/rootonly"
mkfifo -m 666 "$T/user/trap.fifo"
printf 'map = %s/user/trap.fifo\ndiscover = srv\ncache = %s/rootonly/user-named.cache\nlog = stderr\n' \
	"$T" "$T" >"$T/user/trap.conf"
chown nobody "$T/user/trap.conf" "$T/user/trap.fifo"
traced_as_nobody() { # traced_as_nobody TRACEFILE COMMAND...: their environment
	local f=$1
	shift
	timeout 20 strace -f -qq -u nobody -e trace=%file -o "$f" \
		-E LD_PRELOAD=libonionmx.so -E ONIONMX_CONF="$T/user/trap.conf" -E ONIONMX_ACTIVE=1 "$@" 2>&1
}
for how in execve execvp posix_spawn system popen; do
	case $how in
	system | popen) cmd=("$how" "$T/self_report mapped.example") ;;
	*) cmd=("$how" "$T/self_report" mapped.example) ;;
	esac
	out=$(traced_as_nobody "$T/suid-root-$how.strace" "$T/suid_exec" -r -k "${cmd[@]}")
	like "$out" "^loaded=yes" "setuid program, user nobody, setresuid(0,0,0), then $how: the library is loaded in the child"
	like "$out" "^ONIONMX_CONF=$" "$how: the caller's ONIONMX_CONF did not reach root's child"
	like "$out" "^mx=$ONION1\.onion" "$how: the child answers from the built-in config and root's map"
	unlike "$(cat "$T/suid-root-$how.strace")" "trap\.fifo|user-named\.cache" \
		"$how: strace: nothing in the tree opened or created what the user named"
	is "$(ls "$T/rootonly")" "" "$how: no file created in root's directory"
done

# --- Root and a config named by the environment (ONIONMX_CONF reaches root's
# programs by other ways too: su -p, sudo's env_keep, a /etc/ld.so.preload
# install): accepted only if root owns it and nobody else can write it. What
# such a config names (map, cache) is then root's own decision.
traced_as_root() { # traced_as_root TRACEFILE CONF COMMAND...
	local f=$1 conf=$2
	shift 2
	timeout 20 strace -f -qq -e trace=%file -o "$f" env LD_PRELOAD="$LIB" ONIONMX_CONF="$conf" "$@" 2>&1
}
out=$(traced_as_root "$T/root-theirs.strace" "$T/user/trap.conf" "$H/self_report" mapped.example)
like "$out" "trap\.conf: refused.*not owned by root" "root, ONIONMX_CONF naming nobody's file: refused, with the cause"
like "$out" "^mx=none" "and MX lookups are deferred (fail closed), not sent to DNS"
unlike "$(cat "$T/root-theirs.strace")" "trap\.fifo|user-named\.cache" "strace: nothing the file names was opened"
is "$(ls "$T/rootonly")" "" "no file created in root's directory"
out=$("$ONIONMX" -c "$T/user/theirs.conf" "$H/self_report" mapped.example 2>&1)
status=$?
like "$out" "theirs\.conf: refused.*not owned by root" "root, the onionmx wrapper with nobody's config: refused before running anything"
is "$status" 78 "and it exits 78 (EX_CONFIG)"
unlike "$out" "^loaded=" "the command never ran"
cp "$T/user/theirs.conf" "$T/root-theirs.conf"
out=$("$ONIONMX" -c "$T/root-theirs.conf" "$H/self_report" mapped.example 2>&1)
like "$out" "^mx=$EVIL_ONION\.onion" "(control: root's own copy of it runs, and what it names is root's choice)"
mkfifo -m 644 "$T/root-fifo.conf"
out=$(traced_as_root "$T/root-fifo.strace" "$T/root-fifo.conf" "$H/self_report" mapped.example)
status=$?
ok $([ "$status" != 124 ] && echo 0 || echo 1) "root, ONIONMX_CONF naming a FIFO: does not hang in open()"
like "$out" "root-fifo\.conf: not a regular file" "it is refused as not a regular file (fail closed)"
cp "$T/user/trap.conf" "$T/root-writable.conf"
chmod 664 "$T/root-writable.conf"
out=$(traced_as_root "$T/root-writable.strace" "$T/root-writable.conf" "$H/self_report" mapped.example)
like "$out" "root-writable\.conf: refused" "root, ONIONMX_CONF naming root's file writable by its group: refused"
unlike "$(cat "$T/root-writable.strace")" "trap\.fifo|user-named\.cache" "strace: nothing it names was opened"
# Control: root's own copy (0644) is read, and what it names is opened and
# created: the observations above can see it (a writer lets the FIFO open).
cp "$T/user/trap.conf" "$T/root-own.conf"
chmod 644 "$T/root-own.conf"
timeout 20 sh -c ": >'$T/user/trap.fifo'" &
writer=$!
out=$(traced_as_root "$T/root-own.strace" "$T/root-own.conf" "$H/self_report" mapped.example)
wait $writer
ok $? "control: root's own config is read, and the library opened the FIFO it names (the writer got through)"
like "$(cat "$T/root-own.strace")" "open.*trap\.fifo" "control: strace sees that open"
ok $([ -e "$T/rootonly/user-named.cache" ] && echo 0 || echo 1) "control: and it created the cache it names"
rm -f "$T/rootonly/user-named.cache"

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
