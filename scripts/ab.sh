#!/usr/bin/env bash
# ab.sh compares two revisions on one service benchmark the way this
# project's numbers are taken (bench/RESULTS.md): a test binary is built
# from each, then they run in turn, one run each per pair, the order
# swapped from pair to pair (a slow drift of the machine otherwise favours
# whichever runs second). One line per run: records/s, the process's CPU
# per record and the ClickHouse server's CPU during the run, then the
# medians. On a shared VM single runs differ by ±15%: read several pairs.
#
#   scripts/ab.sh [-n PAIRS] [-b BENCHMARK] [-p PACKAGE] BASE NEW
#
# BASE and NEW are git revisions, or "." for the working tree as it is.
# Defaults: 4 pairs of BenchmarkServiceIntoClickHouseSustained in
# ./pipeline. A ClickHouse server of the run's own (Debian's package,
# scripts/clickhouse.sh; ports AB_CH_PORT/AB_CH_HTTP, default 19100/18223)
# is started in a temporary directory and stopped at the end.
set -euo pipefail

pairs=4
bench=BenchmarkServiceIntoClickHouseSustained
pkg=./pipeline
while getopts "n:b:p:" opt; do
	case $opt in
	n) pairs=$OPTARG ;;
	b) bench=$OPTARG ;;
	p) pkg=$OPTARG ;;
	*) sed -n '2,16p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 2 ]; then
	sed -n '2,16p' "$0" >&2
	exit 2
fi
case $pairs in '' | *[!0-9]* | 0) echo "ab.sh: -n must be a positive number, got '$pairs'" >&2; exit 2 ;; esac

top=$(git rev-parse --show-toplevel)
cd "$top"
tmp=$(mktemp -d /tmp/omnistitch-ab.XXXXXX)
cleanup() {
	scripts/clickhouse.sh stop "$tmp/ch" >/dev/null 2>&1 || true
	for wt in "$tmp"/src-*; do
		[ -d "$wt" ] && git worktree remove --force "$wt" >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# build REV NAME: the test binary of PACKAGE at REV, as $tmp/NAME.test.
build() {
	local rev=$1 name=$2 src=$top what
	if [ "$rev" = . ]; then
		what="the working tree on $(git log -1 --format='%h')"
		[ -n "$(git status --porcelain --untracked-files=no)" ] && what="$what, with changes"
	else
		src=$tmp/src-$name
		git worktree add --quiet --detach "$src" "$rev"
		what=$(git -C "$src" log -1 --format='%h %s')
	fi
	echo "building $name: $what" >&2
	(cd "$src" && go test -c -o "$tmp/$name.test" "$pkg")
}
build "$1" base
build "$2" new

port=${AB_CH_PORT:-19100}
scripts/clickhouse.sh start "$tmp/ch" "$port" "${AB_CH_HTTP:-18223}" >&2
chpid=$(cat "$tmp/ch/server.pid")
hz=$(getconf CLK_TCK)
chticks() { awk '{print $14 + $15}' "/proc/$chpid/stat"; }

# run NAME PAIR: one run, one line.
run() {
	local t0 t1 out
	t0=$(chticks)
	out=$(OMNISTITCH_TEST_CLICKHOUSE=127.0.0.1:$port "$tmp/$1.test" -test.run=NONE \
		-test.bench="^$bench\$" -test.benchtime=1x -test.cpu=2 2>&1) || {
		echo "$out" >&2
		echo "ab.sh: the $1 binary failed" >&2
		exit 1
	}
	t1=$(chticks)
	awk -v name="$1" -v pair="$2" -v ch="$(((t1 - t0) * 100 / hz))" '
		/ns\/op|records\/s/ {
			for (i = 2; i < NF; i++) {
				if ($(i + 1) == "records/s") rs = $i
				if ($(i + 1) == "cpu-µs/record") cpu = $i
			}
		}
		END {
			if (rs == "") { print "ab.sh: no records/s in the output" > "/dev/stderr"; exit 1 }
			printf "pair %d %-4s records/s %8.0f  cpu-µs/record %6s  ch-cpu-s %5.2f\n", pair, name, rs, cpu, ch / 100
		}' <<<"$out" | tee -a "$tmp/lines"
}

for i in $(seq "$pairs"); do
	if [ $((i % 2)) -eq 1 ]; then
		run base "$i"
		run new "$i"
	else
		run new "$i"
		run base "$i"
	fi
done

for name in base new; do
	grep " $name " "$tmp/lines" | awk '{print $5}' | sort -n |
		awk -v name="$name" '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %-4s records/s %8.0f over %d runs\n", name, m, NR}'
done
awk '{r[$2] = r[$2] " " $3 "=" $5} END {won = 0; for (p in r) {split(r[p], a, " "); split(a[1], x, "="); split(a[2], y, "="); if ((x[1] == "new" && x[2] > y[2]) || (y[1] == "new" && y[2] > x[2])) won++}; printf "new faster in %d of %d pairs\n", won, length(r)}' "$tmp/lines"
