#!/bin/bash
# Multiarch: no triplet is written into the sources. make install's directory
# and the wrapper's library path come from the compiler's triplet (or
# MULTIARCH=), and the library decides at run time, from ld.so's own search
# directories, whether a child can load it by its bare name in secure mode (a
# setuid program ignores a path): a build for another triplet (aarch64 here,
# x86_64 on arm64) installs there and still finds itself where this ld.so
# looks; /usr/lib64, which this ld.so does not search on Debian, gets the path.
. "$(dirname "$0")/../lib.sh"
skip_under_san "the installed library in setuid programs cannot be an ASan build"
enter_netns "$@"
setup_map || exit 1
NATIVE=$(${CC:-cc} -print-multiarch 2>/dev/null)
OTHER=aarch64-linux-gnu
[ "$NATIVE" = "$OTHER" ] && OTHER=x86_64-linux-gnu
as_nobody() { timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# The system search path ld.so reports (ld.so --help), one directory a line.
LDSO=$(readelf -lW /bin/true | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
ld_dirs() { "$LDSO" --help 2>/dev/null | sed -n 's/^ *\(\/[^ ]*\) (system search path)$/\1/p'; }

# --- the default build: the compiler's triplet ---
if [ -n "$NATIVE" ]; then
	is "$(sys_libdir)" "/usr/lib/$NATIVE" "make install's directory: /usr/lib/ and the compiler's triplet ($NATIVE)"
	like "$("$ONIONMX" -h)" "^/usr/lib/$NATIVE/libonionmx\.so\.$" "the wrapper's installed library: the same directory"
	like "$(ld_dirs | tr '\n' ' ')" "/usr/lib/$NATIVE " "(ld.so searches /usr/lib/$NATIVE: setuid programs can load the library there)"
else
	ok 0 "# SKIP $CC names no multiarch triplet (-print-multiarch)"
fi

# --- a build for another triplet, installed to a DESTDIR ---
MA=$T/ma
make -s -C "$TOP" O="$MA" MULTIARCH=$OTHER all >"$T/ma.log" 2>&1
ok $? "make MULTIARCH=$OTHER builds"
make -s -C "$TOP" O="$MA" MULTIARCH=$OTHER install DESTDIR="$T/dest" PREFIX=/usr/local >>"$T/ma.log" 2>&1
ok $? "make MULTIARCH=$OTHER install DESTDIR=..."
sed 's/^/# /' "$T/ma.log" | head -5
is "$(stat -c %a "$T/dest/usr/lib/$OTHER/libonionmx.so" 2>&1)" 4755 "the library is installed mode 4755 in /usr/lib/$OTHER"
is "$(find "$T/dest" -name 'libonionmx.so*' | sed "s|^$T/dest||")" "/usr/lib/$OTHER/libonionmx.so" "and nowhere else"
like "$("$T/dest/usr/local/bin/onionmx" -h)" "^/usr/lib/$OTHER/libonionmx\.so\.$" "the installed wrapper preloads /usr/lib/$OTHER/libonionmx.so"
# The constant strings (.rodata; the debug info names the compiler's headers).
rodata() { objcopy -O binary --only-section=.rodata "$1" "$T/rodata" && strings -a "$T/rodata"; }
rodata "$MA/shim/libonionmx.so" | grep -qx "$OTHER"
ok $? "the library's own idea of ld.so's directories has $OTHER"
rodata "$MA/shim/libonionmx.so" | grep -q "$NATIVE"
ok $((!$?)) "no $NATIVE in that build's library"
rodata "$MA/tools/onionmx" | grep -q "$NATIVE"
ok $((!$?)) "nor in its wrapper"
rodata "$LIB" | grep -qx "$NATIVE"
ok $? "(control: the native build's library has $NATIVE)"

# --- at run time: where the library is decides, as ld.so sees it ---
# /usr/lib64: a generic library directory by its name, but one this ld.so does
# not search (Debian): a bare name would not be found, even outside secure mode
# (nothing is installed in ld.so's directories yet).
if [ -d /usr/lib64 ] && ! ld_dirs | grep -qx /usr/lib64; then
	INSTALL_DIR=/usr/lib64 install_in_namespace || exit 1
	install -m 755 "$H/self_report" "$T/self_report"
	install -m 755 "$H/exec_probe" "$T/exec_probe"
	out=$(LD_PRELOAD=/usr/lib64/libonionmx.so "$T/exec_probe" execve "$T/self_report" 2>&1)
	like "$out" "^LD_PRELOAD=/usr/lib64/libonionmx\.so$" "in /usr/lib64 (not in ld.so's search path here): the child gets the path"
	like "$out" "^loaded=yes" "and loads the library"
	unlike "$out" "cannot be preloaded" "ld.so has nothing to complain about"
else
	ok 0 "# SKIP /usr/lib64 missing, or ld.so searches it here"
fi

# The other triplet's build installed where this ld.so looks: a child in secure
# mode gets the bare name (a path would be ignored), and loads it.
INSTALL_LIB=$MA/shim/libonionmx.so install_in_namespace || exit 1
SYS=$(sys_libdir)
install -o root -m 4755 "$H/self_report" "$T/suid_report"
install -m 755 "$H/self_report" "$T/self_report"
install -m 755 "$H/exec_probe" "$T/exec_probe"
out=$(LD_PRELOAD="$SYS/libonionmx.so" "$T/exec_probe" execve "$T/self_report" 2>&1)
like "$out" "^LD_PRELOAD=libonionmx\.so$" "$OTHER build in $SYS: its child gets the bare name"
out=$(as_nobody env LD_PRELOAD="$SYS/libonionmx.so" "$T/exec_probe" execve "$T/suid_report" 2>&1)
like "$out" "^loaded=yes" "... and a setuid child (secure mode) loads it by that name"
mkdir -p "$T/lib" && install -m 4755 "$LIB" "$T/lib/libonionmx.so"
out=$(LD_PRELOAD="$T/lib/libonionmx.so" "$T/exec_probe" execve "$T/self_report" 2>&1)
like "$out" "^LD_PRELOAD=$T/lib/libonionmx\.so$" "(control: from a directory ld.so does not search, the child gets the path)"
out=$(as_nobody env LD_PRELOAD="$T/lib/libonionmx.so" "$T/exec_probe" execve "$T/suid_report" 2>&1)
like "$out" "^loaded=no" "(control: which a setuid child ignores: the observation can say no)"

done_testing
