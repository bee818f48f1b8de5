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

"$TOP/scripts/tree.sh" --ensure || { echo "0 passed, 1 failed"; exit 1; }

export LINUX=$TREE BUILD=$TOP/build/debug
export EXTRA_FRAGMENTS="configs/debug.config${EXTRA_FRAGMENTS:+ $EXTRA_FRAGMENTS}"

gate_arches "debug " --debug
say "test-debug: logs in build/debug/logs"
gate_summary test-debug
