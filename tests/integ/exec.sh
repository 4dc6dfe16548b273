#!/bin/bash
# Sticky preload: once loaded, the library stays loaded in every program the
# process runs, through every exec-family function and posix_spawn, even when
# the environment was emptied first (as Postfix and Exim do); it carries its own
# config path along. "programs" limits where it acts: elsewhere it is loaded but
# passes everything through.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
SELF=$H/self_report

for how in execve execv execvp execvpe execl execle execlp fexecve execveat posix_spawn posix_spawnp; do
	out=$(shim "$H/exec_probe" $how "$SELF" mapped.example 2>&1)
	like "$out" "^loaded=yes" "$how with an emptied environment: the library is loaded in the new program"
	like "$out" "^ONIONMX_CONF=$T/onionmx\.conf$" "$how: the config path came along"
	like "$out" "^mx=$ONION1\.onion" "$how: and the new program's MX lookup is answered by it"
	out=$("$H/exec_probe" $how "$SELF" 2>&1)
	like "$out" "^loaded=no" "$how without the library: not loaded (control)"
done

# Through a shell and env -i, as postfix-script and master run their children.
out=$(shim sh -c "env -i /bin/sh -c '$SELF mapped.example'" 2>&1)
like "$out" "^loaded=yes" "sh -> env -i -> sh -> program: still loaded"
like "$out" "^mx=$ONION1\.onion" "and still answering"
out=$(shim env LD_PRELOAD=/nonexistent/other.so "$SELF" 2>&1)
like "$out" "^LD_PRELOAD=/nonexistent/other\.so .*libonionmx\.so$" "an LD_PRELOAD set by the program is kept, ours appended"
out=$(LD_PRELOAD="$PRELOAD" ONIONMX_CONF="$ONIONMX_CONF" sh -c "$SELF" 2>&1)
is "$(printf '%s\n' "$out" | grep -c 'libonionmx')" 1 "an LD_PRELOAD that names us already is left alone"

# programs = ...: acts only in the listed programs, still carried through others.
cp "$ONIONMX_CONF" "$T/only.conf"
echo "programs = $H/self_report" >>"$T/only.conf"
out=$(ONIONMX_CONF=$T/only.conf shim "$H/resolv_probe" nsearch mapped.example MX 2>&1)
like "$out" "answer MX 10 mx\.mapped\.example" "programs = (not this one): the MX lookup passes to DNS"
out=$(ONIONMX_CONF=$T/only.conf shim sh -c "$SELF mapped.example" 2>&1)
like "$out" "^mx=$ONION1\.onion" "programs = self_report: a listed program below an unlisted shell acts"
out=$(ONIONMX_CONF=$T/only.conf ONIONMX_ACTIVE=1 shim "$H/resolv_probe" nsearch mapped.example MX 2>&1)
like "$out" "answer MX 10 $ONION1\.onion" "ONIONMX_ACTIVE=1 (set by the wrapper) makes any program act"
echo "programs = $H/" >>"$T/only.conf"
out=$(ONIONMX_CONF=$T/only.conf shim "$H/resolv_probe" nsearch mapped.example MX 2>&1)
like "$out" "answer MX 10 $ONION1\.onion" "programs = DIR/: every program under DIR acts"
printf 'programs = relative/path\n' >"$T/rel.conf"
out=$("$ONIONMX" -c "$T/rel.conf" -t 2>&1)
like "$out" "rel\.conf:1: programs: \"relative/path\" is not an absolute path" "programs must be absolute paths"
done_testing
