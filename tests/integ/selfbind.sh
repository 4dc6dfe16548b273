#!/bin/bash
# The library never calls its own exported hooks through the GOT or PLT: its log
# writes, the SOCKS dialogue and the exec family use libc (omx_real) or the
# hook's hidden name. A GLOB_DAT or JUMP_SLOT relocation against a symbol the
# library itself defines would send such a call back into a hook (our write()
# examining our own log lines, our shutdown() swallowing a SHUT_WR of ours) or,
# with another preloaded library in front, into someone else's.
. "$(dirname "$0")/../lib.sh"

# self_relocations SO: "TYPE SYMBOL" for each GLOB_DAT/JUMP_SLOT relocation
# against a symbol SO defines itself.
self_relocations() {
	local defined
	defined=$(readelf --dyn-syms --wide "$1" | awk '$7 != "UND" && $8 != "" && NR > 3 { sub(/@.*/, "", $8); print $8 }' | sort -u)
	readelf -r --wide "$1" | awk '$3 ~ /_(GLOB_DAT|JUMP_SLOT)$/ { s = $5; sub(/@.*/, "", s); print $3, s }' |
		while read -r type sym; do
			grep -qxF -- "$sym" <<<"$defined" && echo "$type $sym"
		done
}

# Control: the check finds such a relocation where there is one.
mkdir -p "${TMPDIR:-/tmp}" && d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
printf 'int own_hook(int x) { return x + 1; }\nint caller(int x) { return own_hook(x) * 2; }\n' >"$d/c.c"
${CC:-gcc} -O2 -shared -fPIC -o "$d/c.so" "$d/c.c"
like "$(self_relocations "$d/c.so")" "JUMP_SLOT own_hook" \
	"(control: a library calling its own exported function has a JUMP_SLOT relocation against it)"

defined=$(readelf --dyn-syms --wide "$LIB" | awk '$7 != "UND"' | grep -cwE 'connect|write|shutdown|execve')
ok $([ "$defined" -ge 4 ] && echo 0 || echo 1) "(control: the library defines connect, write, shutdown and execve)"
like "$(readelf -r --wide "$LIB")" "JUMP_SLOT +0+ __errno_location" "(control: the library's relocations against libc are seen)"
out=$(self_relocations "$LIB")
is "$out" "" "libonionmx.so has no GLOB_DAT/JUMP_SLOT relocation against a symbol it defines"
done_testing
