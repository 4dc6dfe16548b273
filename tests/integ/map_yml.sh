#!/bin/bash
# onionmx-map imports the community's map.yml (ehloonion/onionmx, sources/map.yml):
# without -k an invalid entry fails the compile at its FILE:LINE and the old map
# stays; with -k v2 onions, bad checksums and keys Tor refuses are reported with
# FILE:LINE and skipped, the rest compiled and answered by -q.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"

V3A=$("$H/onion_gen" yml-provider-a)
V3B=$("$H/onion_gen" yml-provider-b)
NOPOINT=$("$H/onion_gen" --not-a-point yml-typo)
BADSUM=${V3B%??????}aaaaad   # the key's last characters changed, the checksum not
[ "$BADSUM" != "$V3B" ] || BADSUM=${V3B%??????}bbbbbd

cat >"$T/map.yml" <<EOM
# A static mapping of email domains to onion services,
# where the key of the map are the onion services itself.
---
'4my2dd2okjr75aho.onion':
  - 'old-v2.example'
'$V3A.onion':
  - 'a.example'
  - 'shared.example'
'$BADSUM.onion':
  - 'typo.example'
'$V3B.onion':
  - 'b.example'
  - 'shared.example'
'$NOPOINT.onion':
  - 'nopoint.example'
'h2qkxasmmqdmyiov.onion':
EOM

# Without -k: the first invalid entry fails the compile, nothing is written.
out=$("$MAPTOOL" "$T/map.yml" 2>&1)
is $? 3 "without -k: onionmx-map exits 3"
like "$out" "$T/map.yml:4: .*v2 onion address" "without -k: the v2 onion is named by FILE:LINE"
[ ! -e "$T/map.yml.cdb" ]
ok $? "without -k: no map written"

# With -k: reported and skipped, the rest compiled.
out=$("$MAPTOOL" -k "$T/map.yml" 2>"$T/err")
is $? 0 "with -k: onionmx-map exits 0"
like "$out" "3 domains, 2 onions \(4 invalid entries skipped\)" "with -k: the summary counts what was skipped: $out"
err=$(cat "$T/err")
like "$err" "$T/map.yml:4: .*v2 onion address.*; skipped" "v2 onion reported at line 4"
like "$err" "$T/map.yml:9: .*bad checksum.*; skipped" "bad checksum reported at line 9"
like "$err" "$T/map.yml:14: .*not a valid ed25519 point: Tor would refuse it.*; skipped" "key Tor refuses reported at line 14"
like "$err" "$T/map.yml:16: .*v2 onion address.*; skipped" "an onion with no domains is still checked (line 16)"

out=$("$MAPTOOL" -q shared.example "$T/map.yml.cdb" | tr "\n" " ")
like "$out" "MX 10 $V3A\.onion.*MX 20 $V3B\.onion" "a domain under two onions gets both, in file order"
"$MAPTOOL" -q a.example "$T/map.yml.cdb" | grep -q "$V3A"
ok $? "a.example goes to its onion"
"$MAPTOOL" -q b.example "$T/map.yml.cdb" | grep -q "$V3B"
ok $? "b.example goes to its onion"
for d in old-v2.example typo.example nopoint.example; do
	"$MAPTOOL" -q "$d" "$T/map.yml.cdb" >/dev/null 2>&1
	is $? 1 "$d (skipped) is not in the map"
done

# -y for a name without the extension; the native syntax is not read as YAML.
cp "$T/map.yml" "$T/community"
"$MAPTOOL" -y -k "$T/community" >/dev/null 2>&1
is $? 0 "-y reads a map.yml whatever its name"
"$MAPTOOL" "$T/community" >/dev/null 2>&1
is $? 3 "without -y the same file is refused as the native syntax"
"$MAPTOOL" -k "$T/community" >/dev/null 2>&1
is $? 2 "-k without map.yml is a usage error"

# Outside the YAML subset: refused with its line even with -k; the old map stays.
cp "$T/map.yml.cdb" "$T/before.cdb"
printf "'%s.onion':\n  - &anchor 'a.example'\n" "$V3A" >"$T/map.yml"
out=$("$MAPTOOL" -k "$T/map.yml" 2>&1)
is $? 3 "YAML beyond the subset: exit 3 even with -k"
like "$out" "$T/map.yml:2: " "the line is named: $out"
cmp -s "$T/map.yml.cdb" "$T/before.cdb"
ok $? "the compiled map is left untouched"
ls "$T" | grep -q 'yml.cdb.yml'
ok $((! $?)) "no temporary translation left behind"
done_testing
