# SPDX-License-Identifier: GPL-2.0
# Common helpers for the workspace scripts. Source, don't run.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../base.conf
. "$TOP/base.conf"

BUILD=${BUILD:-$TOP/build}
TREE=${LINUX:-$BUILD/linux}
LOGS=$BUILD/logs
PATCHES=$TOP/patches
BASE_REF=refs/series/base
SERIES_BRANCH=series
# What the tree was last synced to: the patch-ids of patches/, and the hash
# of the series branch then. Work is "unexported" when the branch moved.
STAMP=$BUILD/tree.stamp
HEADSTAMP=$BUILD/tree.head
JOBS=${JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
# Kbuild passes absolute source paths when O= is outside the tree. With the
# workspace as ccache's base_dir they are hashed relative to the build
# directory, so every clone (CI's at /check/work/main, the development one)
# shares entries; without it, a truly cold 'make test' does not fit in CI's
# 90 minutes (13.5 + 10.5 min for the two base kernels, then up to 3 min a
# patch whose header change rebuilds KVM on both arches).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TOP}
# Fixed committer so that 'make tree' gives the same commit hashes everywhere.
export GIT_COMMITTER_NAME="Series workspace"
export GIT_COMMITTER_EMAIL="series@localhost"

mkdir -p "$LOGS"

T0=${T0:-$(date +%s)}
export T0

elapsed() {
	local s=$(($(date +%s) - T0))
	printf '%d:%02d' $((s / 60)) $((s % 60))
}

say() { printf '[%s] %s\n' "$(elapsed)" "$*"; }
warn() { printf '[%s] warning: %s\n' "$(elapsed)" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

# run_logged LOG CMD...: run CMD with output to LOG; on failure show the tail.
run_logged() {
	local log=$1 rc=0 start
	shift
	start=$(date +%s)
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '[%s] FAILED (rc=%d) after %ds: %s\n' "$(elapsed)" "$rc" \
			$(($(date +%s) - start)) "$*" >&2
		printf -- '---- last 40 lines of %s ----\n' "$log" >&2
		tail -n 40 "$log" >&2
		printf -- '----\n' >&2
	fi
	return "$rc"
}

kernel_arch() {
	case "$1" in
	x86_64) echo x86_64 ;;
	arm64) echo arm64 ;;
	*) die "unknown ARCH '$1' (use x86_64 or arm64)" ;;
	esac
}

cross_compile() {
	case "$1" in
	x86_64) echo "" ;;
	arm64) echo aarch64-linux-gnu- ;;
	esac
}

# kmake ARCH ARGS...: the kernel build of ARCH in build/ARCH/kernel. 'make
# build' and 'make check' share that output directory, so both must go
# through here: any difference in the command line makes kbuild rebuild all.
kmake() {
	local arch=$1 cross
	shift
	cross=$(cross_compile "$arch")
	make -C "$TREE" O="$BUILD/$arch/kernel" ARCH="$arch" \
		CROSS_COMPILE="$cross" CC="ccache ${cross}gcc" HOSTCC="ccache gcc" \
		W=1 -j"$JOBS" "$@"
}

# selftests_make ARCH OUTPUT HEADERS: install the uapi headers in HEADERS,
# then build the KVM selftests, statically linked, in OUTPUT.
selftests_make() {
	local arch=$1 out=$2 hdr=$3 cross
	cross=$(cross_compile "$arch")
	mkdir -p "$out"
	kmake "$arch" headers_install INSTALL_HDR_PATH="$hdr" &&
		LDFLAGS=-static make -C "$TREE/tools/testing/selftests/kvm" \
			ARCH="$arch" CROSS_COMPILE="$cross" CC="ccache ${cross}gcc" \
			OUTPUT="$out" KHDR_INCLUDES="-isystem $hdr/include" -j"$JOBS"
}

# Patch files of the series in order, without the cover letter.
series_files() {
	local f
	for f in "$PATCHES"/[0-9][0-9][0-9][0-9]-*.patch; do
		[ -e "$f" ] || continue
		case "$(basename "$f")" in
		0000-*) continue ;;
		esac
		printf '%s\n' "$f"
	done
}

# Stable patch-ids of patches/ and of the commits in the tree.
ids_of_files() {
	local f
	series_files | while read -r f; do
		git patch-id --stable <"$f" | cut -d' ' -f1
	done
}

ids_of_tree() {
	git -C "$TREE" log --reverse -p --format='commit %H' "$BASE_REF..HEAD" |
		git patch-id --stable | cut -d' ' -f1
}

tree_is_clean() {
	[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]
}

series_hash() {
	git -C "$TREE" rev-parse -q --verify "refs/heads/$SERIES_BRANCH" || true
}

on_series_branch() {
	[ "$(git -C "$TREE" symbolic-ref -q HEAD || true)" = "refs/heads/$SERIES_BRANCH" ]
}

write_stamps() {
	ids_of_files >"$STAMP"
	series_hash >"$HEADSTAMP"
}

# Fail if git is in the middle of something in the tree.
no_git_op_in_progress() {
	local p
	for p in rebase-apply rebase-merge CHERRY_PICK_HEAD MERGE_HEAD REVERT_HEAD BISECT_LOG; do
		if [ -e "$(git -C "$TREE" rev-parse --git-path "$p")" ]; then
			die "$TREE: a git operation is in progress ($p); finish or abort it first"
		fi
	done
}

tree_exists() {
	[ -d "$TREE/.git" ] || [ -f "$TREE/.git" ]
}

# The summary of a gate ('make test', 'make test-debug'): the counts over
# every arch and what failed.
passed=0 failed=0 skipped=0
failures=()

# gate_arches KIND RUNARGS...: build every arch of $TEST_ARCHES (default
# both) with build.sh, run its plan with 'run.py ARCH RUNARGS...', and add
# the result to the summary. An arch that does not build fails every test of
# its plan. KIND names the build in the failure ("", "debug ").
gate_arches() {
	local kind=$1 arch n p f s
	shift
	for arch in ${TEST_ARCHES:-x86_64 arm64}; do
		rm -f "$BUILD/$arch/summary"
		if ! "$TOP/scripts/build.sh" "$arch" all; then
			n=$(python3 "$TOP/scripts/run.py" "$arch" "$@" --count)
			failed=$((failed + n))
			failures+=("$arch: ${kind}build failed, $n planned test(s) did not run")
			continue
		fi
		python3 "$TOP/scripts/run.py" "$arch" "$@" || true
		if [ -f "$BUILD/$arch/summary" ]; then
			read -r p f s <"$BUILD/$arch/summary"
		else
			p=0 f=$(python3 "$TOP/scripts/run.py" "$arch" "$@" --count) s=0
		fi
		passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
		[ "$f" -eq 0 ] || failures+=("$arch: $f test(s) failed")
	done
}

# gate_summary WHAT: print what failed and the one summary line; fail if
# anything did.
gate_summary() {
	local x
	echo
	say "$1: done"
	for x in "${failures[@]}"; do
		echo "  FAILED: $x"
	done
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}
