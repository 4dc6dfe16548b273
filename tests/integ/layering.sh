#!/bin/bash
# Arrows point one way in shim/: hook files (hook_*.c) depend on the host glue
# (real.c, state.c, discover.c; host_libc.c for the tools) and on the core; the
# glue depends on the core; the core (every other file) depends on neither. Read
# from the sources (#include, omx_real) and from the objects: an undefined
# symbol of a lower layer's object that a higher layer's object defines is an
# arrow pointing back (state.c calling a hook's fork handler, log.c writing
# through hook_dns.c's write()).
. "$(dirname "$0")/../lib.sh"

SHIM=$TOP/shim
OBJ=$B/obj

layer_of() { # layer_of NAME (a shim/*.c without .c): core, glue or hook
	case $1 in
	hook_*) echo hook ;;
	real | state | discover | host_libc) echo glue ;;
	*) echo core ;;
	esac
}

files_in() { # files_in LAYER: the shim/*.c of LAYER, without .c
	local f
	for f in "$SHIM"/*.c; do
		f=$(basename "$f" .c)
		[ "$(layer_of "$f")" = "$1" ] && echo "$f"
	done
}

# back_edges LOWER HIGHER: "lower.o -> higher.o SYMBOL" for each undefined
# omx_ symbol of a LOWER object that a HIGHER object defines. (The hooks also
# define libc's own names, connect, send ...: a call to those is a call to libc,
# and selfbind.sh checks that the library makes none to its own.)
back_edges() {
	local lo hi defs
	defs=$(for hi in $2; do
		nm --defined-only -g "$OBJ/$hi.o" | awk -v o="$hi" 'NF == 3 && $3 ~ /^omx_/ { print $3, o }'
	done | sort -u)
	for lo in $1; do
		nm -u "$OBJ/$lo.o" | awk '{ print $2 }' | sort -u |
			join - <(echo "$defs") | awk -v o="$lo" '{ print o ".o -> " $2 ".o " $1 }'
	done
}

core=$(files_in core)
glue=$(files_in glue)
hook=$(files_in hook)
missing=
for f in $core $glue $hook; do [ -f "$OBJ/$f.o" ] || missing="$missing $f.o"; done
is "$missing" "" "every shim/*.c has its object in $OBJ (build first)"

# Controls: the checks see an arrow where there is one.
like "$(back_edges hook_socket state)" "hook_socket.o -> state.o omx_map_acquire" \
	"(control: an object's use of another's symbol is seen: hook_socket.o uses state.o's omx_map_acquire)"
like "$(back_edges state real)" "state.o -> real.o omx_bind_real" \
	"(control: state.o uses real.o's omx_bind_real)"
like "$(grep -l '^#include "real.h"' "$SHIM"/hook_socket.c)" "hook_socket.c" \
	"(control: the include check sees hook_socket.c's #include \"real.h\")"
ok $([ "$(echo $core | wc -w)" -ge 20 ] && echo 0 || echo 1) "(control: the core has its files: $(echo $core | wc -w))"

# The core includes no hook, host or state header and names no real symbol.
bad=$(cd "$SHIM" && for f in $core; do
	grep -HnE '^#include "(hooks|real|state)\.h"|omx_real' "$f.c"
done)
is "$bad" "" "no core file includes hooks.h, real.h or state.h or names omx_real"
bad=$(cd "$SHIM" && grep -lE '^#include "(hooks|real|state)\.h"' $(ls *.h | grep -vxE 'hooks\.h|real\.h|state\.h'))
is "$bad" "" "no core header includes hooks.h, real.h or state.h"

is "$(back_edges "$core" "$glue $hook")" "" "no core object uses a symbol of the glue or the hooks"
is "$(back_edges "$glue" "$hook")" "" "no glue object (real, state, discover) uses a hook's symbol"
done_testing
