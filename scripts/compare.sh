#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Base vs series, in the same run, on the same machine:
#   - pfnmap_test must FAIL on the base and PASS with the series;
#   - the 4K fault path must not regress: demand_paging_test (anonymous 4K)
#     and kvm_page_table_test, patched/base throughput ratio >= 0.98;
#   - guest_memfd_fault_bench's population that both kernels can do (x86:
#     4K private memory, mode=private4k; arm64: 4K anonymous memory,
#     mode=anon4k) is compared too, for information, and its series-only
#     lines (2M/1G folios, conversion, footprint) are shown.
#
# "Base" is the pinned base plus only the commits of the series that add the
# test driver and the selftest (they touch no KVM code), so that the test
# can run there at all.  It is built in build/base/ from its own worktree.
# Each of COMPARE_ROUNDS rounds boots base then series, running
# tests/compare.ARCH, which repeats each benchmark; medians are compared.
# The base cannot build the series' benchmarks (SERIES_BENCHES), which need
# the series' uAPI headers, but they run on it: the base's boots get the
# series' binaries of them next to its own selftests (in build/compare-base/,
# as build/hybrid/ does for tests/fails-on-base.ARCH), so that both kernels
# run the same binary.
#
#   compare.sh [ARCH...]    default: x86_64 arm64
. "$(dirname "$0")/lib.sh"

ARCHES=${*:-x86_64 arm64}
ROUNDS=${COMPARE_ROUNDS:-3}
BASE_BUILD=$BUILD/base
BASE_SRC=$BASE_BUILD/linux
OUTDIR=$LOGS/compare
TEST_PATHS=(lib/test_pfnmap.c tools/testing/selftests/kvm/pfnmap_test.c)
# Selftests of the series that tests/compare.ARCH runs on the base kernel too.
SERIES_BENCHES=(guest_memfd_fault_bench)
# The base's boots: its kernel and selftests plus the series' SERIES_BENCHES.
BASE_RUN=$BUILD/compare-base

tree_exists || die "no tree at $TREE; run 'make tree'"
mkdir -p "$BASE_BUILD" "$OUTDIR"

# The base worktree: base + the test-only commits, rebuilt from scratch
# each time so it follows the series.
mapfile -t test_commits < <(git -C "$TREE" rev-list --reverse "$BASE_REF..HEAD" -- "${TEST_PATHS[@]}")
[ ${#test_commits[@]} -gt 0 ] || die "no commit in the series adds ${TEST_PATHS[*]}"
if [ ! -e "$BASE_SRC/.git" ]; then
	rm -rf "$BASE_SRC"
	git -C "$TREE" worktree prune
	git -C "$TREE" worktree add -q --detach "$BASE_SRC" "$BASE_REF"
fi
git -C "$BASE_SRC" cherry-pick --abort >/dev/null 2>&1 || true
git -C "$BASE_SRC" checkout -q -f --detach "$BASE_REF"
git -C "$BASE_SRC" clean -q -fdx
for c in "${test_commits[@]}"; do
	git -C "$BASE_SRC" -c user.name=compare -c user.email=compare@localhost \
		cherry-pick "$c" >"$LOGS/compare-pick.log" 2>&1 ||
		die "cannot apply $(git -C "$TREE" log -1 --format='%h %s' "$c") on the base (log: ${LOGS#"$TOP"/}/compare-pick.log)"
done
say "compare: base = $(git -C "$TREE" rev-parse --short=12 "$BASE_REF") + ${#test_commits[@]} test commit(s)"

for arch in $ARCHES; do
	say "compare $arch: building base"
	BUILD=$BASE_BUILD LINUX=$BASE_SRC "$TOP/scripts/build.sh" "$arch" all ||
		die "$arch: the base does not build"
	say "compare $arch: building series"
	"$TOP/scripts/build.sh" "$arch" all || die "$arch: the series does not build"
	# Tests whose uAPI the base lacks, so they cannot be built there: the
	# series' binaries, booted on the base kernel, must fail.
	if [ -f "$TOP/tests/fails-on-base.$arch" ]; then
		say "compare $arch: the series' tests on the base kernel"
		hybrid=$BUILD/hybrid
		rm -rf "${hybrid:?}/$arch" "$hybrid/logs"
		mkdir -p "$hybrid/$arch"
		cp "$BASE_BUILD/$arch/kernel.img" "$hybrid/$arch/"
		cp "$BUILD/$arch/init" "$hybrid/$arch/"
		cp -a "$BUILD/$arch/selftests" "$hybrid/$arch/"
		BUILD=$hybrid python3 "$TOP/scripts/run.py" "$arch" \
			--plan "$TOP/tests/fails-on-base.$arch" || true
		cat "$hybrid/logs/$arch-boot"*.tap >"$OUTDIR/$arch-newtests-on-base.tap"
	fi
	# The base's selftests as symbolic links (run.py strips a copy of
	# what the plan runs into the initramfs), plus the series' benchmarks.
	rm -rf "${BASE_RUN:?}/$arch" "$BASE_RUN/logs"
	mkdir -p "$BASE_RUN/$arch"
	cp "$BASE_BUILD/$arch/kernel.img" "$BASE_BUILD/$arch/init" "$BASE_RUN/$arch/"
	cp -as "$(cd "$BASE_BUILD/$arch/selftests" && pwd)" "$BASE_RUN/$arch/selftests"
	for b in "${SERIES_BENCHES[@]}"; do
		[ -f "$BUILD/$arch/selftests/$b" ] || die "$arch: the series did not build $b"
		rm -f "$BASE_RUN/$arch/selftests/$b"
		cp "$BUILD/$arch/selftests/$b" "$BASE_RUN/$arch/selftests/$b"
	done
	for r in $(seq 1 "$ROUNDS"); do
		for which in base series; do
			say "compare $arch: round $r, $which"
			if [ "$which" = base ]; then
				BUILD=$BASE_RUN python3 "$TOP/scripts/run.py" "$arch" \
					--plan "$TOP/tests/compare.$arch" || true
				logs=$BASE_RUN/logs
			else
				python3 "$TOP/scripts/run.py" "$arch" \
					--plan "$TOP/tests/compare.$arch" || true
				logs=$LOGS
			fi
			cp "$logs/$arch-boot0.tap" "$OUTDIR/$arch-$which-$r.tap"
		done
	done
done
python3 "$TOP/scripts/compare_report.py" "$OUTDIR" $ARCHES
