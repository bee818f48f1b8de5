#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The debug gate: build both arches with configs/debug.config (KASAN,
# lockdep, PROVE_RCU, DEBUG_VM, DEBUG_LIST, hung task detector) in
# build/debug, and run the whole plan on them with 'run.py --debug': the
# timeouts scaled, the only=debug (long) variants instead of the only=normal
# ones. Any splat fails the test it happened in. Ends with one line
# "N passed, N failed, N skipped" like 'make test', and exits non-zero on any
# failure. Not part of 'make test': it takes about an hour.
. "$(dirname "$0")/lib.sh"

ARCHES=${TEST_ARCHES:-x86_64 arm64}
passed=0 failed=0 skipped=0
failures=()

"$TOP/scripts/tree.sh" --ensure || { echo "0 passed, 1 failed"; exit 1; }

export LINUX=$TREE BUILD=$TOP/build/debug
export EXTRA_FRAGMENTS="configs/debug.config${EXTRA_FRAGMENTS:+ $EXTRA_FRAGMENTS}"

for arch in $ARCHES; do
	rm -f "$BUILD/$arch/summary"
	if ! "$TOP/scripts/build.sh" "$arch" all; then
		n=$(python3 "$TOP/scripts/run.py" "$arch" --debug --count)
		failed=$((failed + n))
		failures+=("$arch: debug build failed, $n planned test(s) did not run")
		continue
	fi
	python3 "$TOP/scripts/run.py" "$arch" --debug || true
	if [ -f "$BUILD/$arch/summary" ]; then
		read -r p f s <"$BUILD/$arch/summary"
	else
		p=0 f=$(python3 "$TOP/scripts/run.py" "$arch" --debug --count) s=0
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failures+=("$arch: $f test(s) failed")
done

echo
say "test-debug: done (logs: build/debug/logs)"
for x in "${failures[@]}"; do
	echo "  FAILED: $x"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
