#!/bin/bash
# The build is hardened as Debian builds its packages (the library is installed
# setuid and loaded into setuid Exim), checked in the binaries themselves with
# readelf: RELRO, the stack protector's and _FORTIFY_SOURCE's checking
# functions imported, the code-generation flags recorded in the debug info, CET
# notes in the objects; lazy binding kept (README, Performance). A control
# object built without hardening shows each check can fail. Then the user's
# flags: CFLAGS, CPPFLAGS and LDFLAGS are honoured without dropping the
# warnings or the hardening, and LDFLAGS reach every link.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
CC=${CC:-cc}
BINS=("$LIB" "$B/tools/onionmx" "$B/tools/onionmx-map" "$B/tools/onionmx-check")
has_flag() { "$CC" -Werror "$1" -x c -c -o /dev/null /dev/null 2>/dev/null; }

relro() { readelf -lW "$1" | grep -q GNU_RELRO; }
imports() { readelf --dyn-syms -W "$1" | awk '$7 == "UND" { sub(/@.*/, "", $8); print $8 }'; }
stack_chk() { imports "$1" | grep -qx __stack_chk_fail; }
fortified() { imports "$1" | grep -Eq '^__[a-z_]+_chk$' && imports "$1" | grep -Evx __stack_chk_fail | grep -Eq '^__[a-z_]+_chk$'; }
# The GCC command-line flags recorded for each compilation unit of OUR sources
# (DW_AT_producer, then its DW_AT_name), one line per unit: "NAME FLAGS".
producers() {
	readelf --debug-dump=info "$1" 2>/dev/null | awk '
		/DW_TAG_compile_unit/ { p = ""; want = 1; next }
		want && /DW_AT_producer/ { p = $0; sub(/.*\): /, "", p) }
		want && /DW_AT_name/ { n = $0; sub(/.*\): /, "", n); sub(/.*: /, "", n)
			if (n ~ /(shim|tools|tests)\/[^\/]*\.c$/ || n ~ /^[a-z_0-9-]+\.c$/) print n, p; want = 0 }'
}
lacking() { # lacking FILE FLAG: our compilation units whose recorded flags lack FLAG
	producers "$1" | grep -v -- "$2" | awk '{ print $1 }' | tr '\n' ' '
}

# --- the control: what the checks say about an unhardened object ---
printf '#include <stdio.h>\n#include <string.h>\nint ctl(const char *s) { char b[64]; strcpy(b, s); return printf("%%s", b); }\n' >"$T/ctl.c"
"$CC" -shared -fPIC -O2 -g -fno-stack-protector -U_FORTIFY_SOURCE -Wl,-z,norelro -o "$T/ctl.so" "$T/ctl.c" 2>/dev/null
relro "$T/ctl.so"
ok $((!$?)) "control: a library linked -z norelro has no GNU_RELRO"
stack_chk "$T/ctl.so"
ok $((!$?)) "control: one built -fno-stack-protector imports no __stack_chk_fail"
fortified "$T/ctl.so"
ok $((!$?)) "control: one built without _FORTIFY_SOURCE imports no __*_chk function"
"$CC" -shared -fPIC -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,relro -o "$T/ctl2.so" "$T/ctl.c" 2>/dev/null
relro "$T/ctl2.so" && stack_chk "$T/ctl2.so" && fortified "$T/ctl2.so"
ok $? "control: the same source built hardened passes all three"
if [ -n "$(producers "$LIB")" ]; then
	like "$(readelf --debug-dump=info "$T/ctl.so" | grep DW_AT_producer)" "-fno-stack-protector" \
		"control: the debug info records the code-generation flags"
fi

# --- the build under test ---
for f in "${BINS[@]}"; do
	n=${f#"$B"/}
	relro "$f"
	ok $? "$n: RELRO (GNU_RELRO segment)"
	stack_chk "$f"
	ok $? "$n: stack protector (imports __stack_chk_fail)"
	fortified "$f"
	ok $? "$n: _FORTIFY_SOURCE (imports $(imports "$f" | grep -E '^__[a-z_]+_chk$' | grep -vx __stack_chk_fail | head -3 | tr '\n' ' ')...)"
done
readelf -dW "$LIB" | grep -Eq 'BIND_NOW|FLAGS.*NOW'
ok $((!$?)) "libonionmx.so: lazy binding, no BIND_NOW (-z now costs every process start: README, Performance)"

if [ -z "$(producers "$LIB")" ]; then
	ok 0 "# SKIP no debug info (CFLAGS without -g): the recorded compiler flags cannot be checked"
else
	for f in "${BINS[@]}"; do
		n=${f#"$B"/}
		is "$(lacking "$f" -fstack-protector-strong)" "" "$n: every unit of ours built -fstack-protector-strong"
		if has_flag -fstack-clash-protection; then
			is "$(lacking "$f" -fstack-clash-protection)" "" "$n: every unit of ours built -fstack-clash-protection"
		fi
		if has_flag -fcf-protection; then
			is "$(lacking "$f" -fcf-protection)" "" "$n: every unit of ours built -fcf-protection"
		elif has_flag -mbranch-protection=standard; then
			is "$(lacking "$f" -mbranch-protection)" "" "$n: every unit of ours built -mbranch-protection"
		fi
	done
fi
if has_flag -fcf-protection; then
	readelf -nW "$B/obj/state.o" | grep -q "x86 feature: IBT, SHSTK"
	ok $? "objects carry the CET note (IBT, SHSTK)"
	readelf -nW "$LIB" | grep -q "x86 feature: IBT, SHSTK" ||
		echo "# note: libonionmx.so itself is not CET-marked: the linker drops the mark when one input lacks it ($(basename "$("$CC" -print-file-name=libcdb_pic.a)") from Debian is built without -fcf-protection)"
fi

# --- the user's flags (make -n: what each rule would run) ---
dry() { make -s -n -B -C "$TOP" O="$T/dry" "$@" "$T/dry/shim/libonionmx.so" "$T/dry/tools/onionmx" \
	"$T/dry/tools/onionmx-map" "$T/dry/tools/onionmx-check" "$T/dry/tests/unit/test_onion" \
	"$T/dry/tests/helpers/onion_gen" 2>&1 | sed -e :a -e '/\\$/N; s/\\\n//; ta'; } # continued lines joined
out=$(dry CFLAGS="-O1 -DUSER_CFLAGS" CPPFLAGS=-DUSER_CPPFLAGS LDFLAGS=-Wl,--user-ldflags)
compiles=$(printf '%s\n' "$out" | grep -E -- ' -c [^ ]+\.c ')
links=$(printf '%s\n' "$out" | grep -E -- '[[:space:]]-o [^ ]+' | grep -v -- ' -c ')
ok $(($(printf '%s\n' "$compiles" | grep -c .) > 20 ? 0 : 1)) "user flags: make -n shows the compilations"
is "$(printf '%s\n' "$compiles" | grep -v -- '-DUSER_CFLAGS' | grep -c .)" 0 "user CFLAGS reach every compilation"
is "$(printf '%s\n' "$compiles" | grep -v -- '-DUSER_CPPFLAGS' | grep -c .)" 0 "user CPPFLAGS reach every compilation"
is "$(printf '%s\n' "$compiles" | grep -v -- '-Wall -Wextra -Werror' | grep -c .)" 0 "user CFLAGS keep the warnings"
is "$(printf '%s\n' "$compiles" | grep -v -- '-fstack-protector-strong' | grep -c .)" 0 "user CFLAGS keep the stack protector"
is "$(printf '%s\n' "$compiles" | grep -v -- '-D_FORTIFY_SOURCE=[23]' | grep -c .)" 0 "user CFLAGS (-O1) keep _FORTIFY_SOURCE"
is "$(printf '%s\n' "$links" | wc -l)" 6 "make -n shows the six links"
is "$(printf '%s\n' "$links" | grep -v -- '-Wl,--user-ldflags' | grep -c .)" 0 "user LDFLAGS reach every link"
is "$(printf '%s\n' "$links" | grep -v -- '-Wl,-z,relro' | grep -c .)" 0 "every link has RELRO"
out=$(dry CPPFLAGS=-D_FORTIFY_SOURCE=2)
is "$(printf '%s\n' "$out" | grep -- ' -c shim/onion\.c' | grep -o -- '-D_FORTIFY_SOURCE=[0-9]' | tr '\n' ' ')" "-D_FORTIFY_SOURCE=2 " \
	"a user's own _FORTIFY_SOURCE level is kept, not redefined (a warning, so an error)"
out=$(dry HARDEN=0)
unlike "$(printf '%s\n' "$out" | grep -- ' -c shim/onion\.c')" "stack-protector|FORTIFY" "HARDEN=0: no hardening flags (make bench's comparison build)"
# A real compilation without optimisation: glibc warns that _FORTIFY_SOURCE needs
# it, and warnings are errors, so the level is left out then.
make -s -C "$TOP" O="$T/o0" CFLAGS="-O0 -g" "$T/o0/obj/onion.o" >"$T/o0.log" 2>&1
ok $? "CFLAGS=-O0 builds (no _FORTIFY_SOURCE without optimisation)"
grep -q "_FORTIFY_SOURCE" "$T/o0.log" && sed 's/^/# /' "$T/o0.log" | head -5
done_testing
