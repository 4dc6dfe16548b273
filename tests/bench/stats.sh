# Statistics over recorded rounds, shared by tests/bench/bench.sh and mta.sh:
# one number a line in each file, "fail" for a failed run (mawk: no asort, so
# sort(1) does it).
median() { # median FILE: median of the numbers in FILE, or "fail"
	[ -s "$1" ] && ! grep -q fail "$1" || { echo fail; return; }
	sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
ratios() { # ratios A B: per-round A/B, one a line
	paste "$1" "$2" | awk '$1 != "fail" && $2 != "fail" && $2 > 0 { print $1 / $2 }'
}
quartiles() { # quartiles FILE: "median q1 q3"
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (!NR) { print "fail fail fail"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		q1 = v[int((NR - 1) / 4) + 1]; q3 = v[NR - int((NR - 1) / 4)]
		print m, q1, q3 }'
}
ratio_stats() { # ratio_stats A B: "median q1 q3" of per-round A/B
	ratios "$1" "$2" >"$T/ratio.tmp"
	quartiles "$T/ratio.tmp"
}
