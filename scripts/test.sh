#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The full gate: 'make check', then build and boot both arches and run their
# plans. Ends with exactly one line "N passed, N failed, N skipped" and exits
# non-zero on any failure. 'make check' counts as one test; an arch whose
# kernel or selftests do not build fails every test of its plan.
. "$(dirname "$0")/lib.sh"

ARCHES=${TEST_ARCHES:-x86_64 arm64}
passed=0 failed=0 skipped=0
failures=()

plan_count() {
	python3 "$TOP/scripts/run.py" "$1" --count
}

"$TOP/scripts/tree.sh" || { echo "0 passed, 1 failed"; exit 1; }

say "test: make check"
if "$TOP/scripts/check.sh"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("make check")
fi

for arch in $ARCHES; do
	rm -f "$BUILD/$arch/summary"
	if ! "$TOP/scripts/build.sh" "$arch" all; then
		n=$(plan_count "$arch")
		failed=$((failed + n))
		failures+=("$arch: build failed, $n planned test(s) did not run")
		continue
	fi
	python3 "$TOP/scripts/run.py" "$arch" || true
	if [ -f "$BUILD/$arch/summary" ]; then
		read -r p f s <"$BUILD/$arch/summary"
	else
		p=0 f=$(plan_count "$arch") s=0
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failures+=("$arch: $f test(s) failed")
done

echo
say "test: done"
for x in "${failures[@]}"; do
	echo "  FAILED: $x"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
