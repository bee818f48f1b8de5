#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The full gate: 'make check', then build and boot both arches and run their
# plans. Ends with exactly one line "N passed, N failed, N skipped" and exits
# non-zero on any failure. 'make check' counts as one test; an arch whose
# kernel or selftests do not build fails every test of its plan.
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/tree.sh" || { echo "0 passed, 1 failed"; exit 1; }

say "test: make check"
if "$TOP/scripts/check.sh"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("make check")
fi

gate_arches ""
gate_summary test
