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

# vfork: the exec runs in the child, on the parent's stack and memory.
out=$(shim "$H/exec_probe" vfork "$SELF" mapped.example 2>&1)
like "$out" "^loaded=yes" "vfork + execve with an emptied environment: the library is loaded in the new program"
like "$out" "^mx=$ONION1\.onion" "vfork + execve: and the new program's MX lookup is answered by it"

# system() and popen() spawn through glibc's internal posix_spawn, which no
# interposer of execve or posix_spawn sees: after clearenv() their child would
# run without the library unless they are interposed too.
for how in system popen; do
	out=$(shim "$H/exec_probe" $how "$SELF mapped.example" 2>&1)
	like "$out" "^loaded=yes" "$how after clearenv(): the library is loaded in the shell's child"
	like "$out" "^ONIONMX_CONF=$T/onionmx\.conf$" "$how: the config path came along"
	like "$out" "^mx=$ONION1\.onion" "$how: and the child's MX lookup is answered by it"
	out=$("$H/exec_probe" $how "$SELF" 2>&1)
	like "$out" "^loaded=no" "$how without the library: not loaded (control)"
done
# Their semantics stay glibc's: return values, and system()'s SIGINT/SIGQUIT
# ignored in the caller while the command runs.
for pre in shim env; do
	what=$([ $pre = shim ] && echo "with the library" || echo "without it (control)")
	out=$($pre "$H/exec_probe" system 'exit 3' 2>&1)
	like "$out" "^status=768 exit=3$" "system('exit 3') returns the wait status, $what"
	out=$($pre "$H/exec_probe" system 'kill -INT $PPID; kill -QUIT $PPID; echo survived' 2>&1)
	like "$out" "^survived" "system(): the command ran, $what"
	like "$out" "^status=0 exit=0$" "system(): the caller ignored the SIGINT and SIGQUIT sent meanwhile, $what"
	out=$($pre "$H/exec_probe" popen 'echo from-child; exit 5' 2>&1)
	like "$out" "^from-child$" "popen(): the command's output is read, $what"
	like "$out" "^status=1280 exit=5$" "pclose() returns the wait status, $what"
done

# Many threads in system() and popen() at once, after clearenv(), while another
# reads the environment: every child has the library, no reader sees anything
# but the library's entry or none, and the empty environment is back at the end.
out=$(shim "$H/popen_threads" 8 10 2>&1)
like "$out" "^children=160 missed=0 bad_reads=0 environ_back=yes$" "8 threads, 160 system()/popen() at once: all children have the library, environ put back"
out=$("$H/popen_threads" 2 2 2>&1)
like "$out" "^children=8 missed=8 " "(control: without the library, none has it)"

# The exec family is bound once, with the other real functions, never in the
# exec itself (which may run in a vfork child, where dlsym is not safe); a
# missing real function, or one that is our own hook, fails with ENOSYS.
if [ "${SAN:-}" = 1 ]; then
	echo "ok $((T_N += 1)) - # SKIP dlsym_spy: its dlsym() would stand before the sanitizer runtime's own bindings"
else
	SPY="$H/dlsym_spy.so $LIB"
	for how in execve execvp fexecve execveat posix_spawn posix_spawnp vfork system popen; do
		out=$(DLSYM_SPY_LOG=1 LD_PRELOAD="$SPY" "$H/exec_probe" $how "$SELF" 2>&1)
		like "$out" "^loaded=yes" "$how under dlsym_spy: the library is loaded in the new program"
		before=$(printf '%s\n' "$out" | sed '/^exec_probe: calling/q')
		after=$(printf '%s\n' "$out" | sed '1,/^exec_probe: calling/d')
		like "$before" "^dlsym_spy: connect$" "$how: the spy sees the library bind its real functions at start-up (control)"
		unlike "$after" "^dlsym_spy: " "$how: no dlsym() when the exec happens"
	done
	EXEC_FNS=execve,execvpe,fexecve,execveat,posix_spawn,posix_spawnp,system,popen
	for spy in MISSING SELF; do
		for how in execve execv execvp execl fexecve execveat posix_spawn posix_spawnp vfork system popen; do
			out=$(env DLSYM_SPY_$spy=$EXEC_FNS LD_PRELOAD="$SPY" "$H/exec_probe" $how "$SELF" 2>&1)
			status=$?
			ok $([ $status -gt 0 ] && [ $status -lt 128 ] && echo 0 || echo 1) \
				"$how, real function $([ $spy = SELF ] && echo "is our own hook" || echo missing): fails without crashing (status $status)"
			like "$out" "Function not implemented|status=-1 exit=-1" "$how: ENOSYS"
			unlike "$out" "^loaded=" "$how: nothing ran"
		done
	done
	# The other hooks fail the same way when their real function is missing:
	# ENOSYS or a temporary lookup failure, never a call through NULL.
	out=$(echo hello | DLSYM_SPY_MISSING=write LD_PRELOAD="$SPY" dd status=none 2>&1)
	status=$?
	ok $([ $status -gt 0 ] && [ $status -lt 128 ] && echo 0 || echo 1) "write() missing: dd fails without crashing (status $status)"
	like "$out" "Function not implemented" "write() missing: ENOSYS"
	out=$(DLSYM_SPY_MISSING=res_nquery LD_PRELOAD="$SPY" "$H/resolv_probe" nquery plain.example MX 2>&1)
	status=$?
	ok $([ $status -lt 128 ] && echo 0 || echo 1) "res_nquery() missing: no crash (status $status)"
	like "$out" "h_errno=2|TRY_AGAIN|try again" "res_nquery() missing: a temporary failure (the MTA defers)"
	out=$(DLSYM_SPY_MISSING=res_nquery LD_PRELOAD="$SPY" "$H/resolv_probe" nquery mapped.example MX 2>&1)
	like "$out" "answer MX 10 $ONION1\.onion" "(control: the map still answers without the real res_nquery)"
	out=$(DLSYM_SPY_MISSING=getaddrinfo LD_PRELOAD="$SPY" "$H/connect_probe" mx.plain.example 25 2>&1)
	status=$?
	ok $([ $status -lt 128 ] && echo 0 || echo 1) "getaddrinfo() missing: no crash (status $status)"
	like "$out" "System error" "getaddrinfo() missing: EAI_SYSTEM (errno ENOSYS)"
	out=$(DLSYM_SPY_MISSING=recvfrom,sendto LD_PRELOAD="$SPY" "$H/resolv_probe" nquery plain.example MX 2>&1)
	status=$?
	ok $([ $status -lt 128 ] && echo 0 || echo 1) "sendto()/recvfrom() missing: a lookup fails without crashing (status $status)"
fi

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
# programs = ... and a /proc that cannot be read (a tmpfs over it, a hardened
# container): the program cannot be identified, so the library acts as if it
# were listed: an MTA among the listed programs must never go inert and pass
# a mapped domain to DNS.
echo "programs = $H/resolv_probe" >"$T/listed.conf"
cat "$ONIONMX_CONF" >>"$T/listed.conf"
no_proc() { unshare --mount sh -c 'mount -t tmpfs none /proc && exec "$@"' sh "$@"; }
out=$(no_proc true 2>&1 && no_proc sh -c 'readlink /proc/self/exe || echo unreadable' 2>&1)
like "$out" "^unreadable$" "(a tmpfs over /proc: /proc/self/exe cannot be read)"
if [ "${SAN:-}" = 1 ]; then
	echo "ok $((T_N += 1)) - # SKIP /proc hidden: the sanitizer runtimes themselves need /proc"
else
	before=$(dns_queries | grep -c '^MX mapped\.example')
	out=$(ONIONMX_CONF=$T/listed.conf no_proc env LD_PRELOAD="$PRELOAD" "$H/resolv_probe" nsearch mapped.example MX 2>&1)
	like "$out" "answer MX 10 $ONION1\.onion" "/proc hidden, programs = resolv_probe: the listed program still acts"
	out=$(ONIONMX_CONF=$T/listed.conf no_proc env LD_PRELOAD="$PRELOAD" "$H/self_report" mapped.example 2>&1)
	like "$out" "^mx=$ONION1\.onion" "/proc hidden: an unlisted program acts too (it cannot be told apart)"
	is "$(dns_queries | grep -c '^MX mapped\.example')" "$before" "/proc hidden: DNS never saw mapped.example's MX"
	out=$(ONIONMX_CONF=$T/listed.conf shim "$H/self_report" mapped.example 2>&1)
	like "$out" "^mx=mx\.mapped\.example" "(control: with /proc, an unlisted program passes the lookup to DNS)"
	is "$(dns_queries | grep -c '^MX mapped\.example')" "$((before + 1))" "(control: and DNS saw it)"
fi

# Preloaded by a relative name: a program started after a change of directory
# still gets the library, under its absolute name (ld.so's relative one would
# no longer lead to it).
rel=$(realpath --relative-to="$TOP" "$LIB")
out=$(cd "$TOP" && LD_PRELOAD="${SAN_PRELOAD:+$SAN_PRELOAD }$rel" ONIONMX_CONF="$T/onionmx.conf" \
	"$H/exec_probe" -c / execve "$SELF" mapped.example 2>&1)
like "$out" "^loaded=yes" "preloaded as $rel, then chdir(/): the library is loaded in the new program"
like "$out" "^LD_PRELOAD=(.* )?$(realpath "$LIB")$" "under its absolute name"
out=$(cd "$TOP" && LD_PRELOAD="${SAN_PRELOAD:+$SAN_PRELOAD }$rel" "$H/self_report" 2>&1)
like "$out" "^loaded=yes" "(control: the relative name loads it where it was given)"

printf 'programs = relative/path\n' >"$T/rel.conf"
out=$("$ONIONMX" -c "$T/rel.conf" -t 2>&1)
like "$out" "rel\.conf:1: programs: \"relative/path\" is not an absolute path" "programs must be absolute paths"
done_testing
