#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fast checks of patches/ that need no boot:
#   1. every patch applies with 'git am' on the pinned base, and the result is
#      the tree in build/linux;
#   2. scripts/checkpatch.pl --strict: errors fail, warnings are listed;
#   3. every patch builds on its own with W=1 on x86_64 and arm64 (an
#      incremental build of vmlinux in the same output directory as
#      'make build', so only what a patch changes is recompiled; the KVM
#      selftests too when a patch touches them or the uapi headers).
#
# CHECK_ARCHES="x86_64 arm64" and CHECK_BUILD=0 (skip step 3) may be set.
. "$(dirname "$0")/lib.sh"

ARCHES=${CHECK_ARCHES:-x86_64 arm64}
failed=0
fail() {
	printf '[%s] check: FAIL: %s\n' "$(elapsed)" "$*" >&2
	failed=$((failed + 1))
}

tree_exists || "$TOP/scripts/tree.sh" || die "cannot make the tree"
if ! tree_is_clean || [ "$(ids_of_tree)" != "$(ids_of_files)" ]; then
	die "build/linux differs from patches/: commit your work and run 'make export' (or 'make tree' to go back to patches/)"
fi
mapfile -t files < <(series_files)
say "check: ${#files[@]} patch(es)"

# --- 1. git am on the base, in a scratch worktree kept between runs ---------
AM=$BUILD/check-am
am_ok=1
apply_all() {
	local f
	if [ ! -e "$AM/.git" ]; then
		say "check: creating $AM (once)"
		rm -rf "$AM"
		git -C "$TREE" worktree prune
		git -C "$TREE" worktree add -q --detach "$AM" "$BASE_REF"
	fi
	git -C "$AM" am --abort >/dev/null 2>&1 || true
	git -C "$AM" checkout -q -f --detach "$BASE_REF"
	git -C "$AM" clean -q -fdx >/dev/null 2>&1 || true
	for f in "${files[@]}"; do
		if ! git -C "$AM" am -q "$f" >"$LOGS/check-am.log" 2>&1; then
			sed 's/^/    /' "$LOGS/check-am.log" >&2
			git -C "$AM" am --abort >/dev/null 2>&1 || true
			fail "$(basename "$f") does not apply with 'git am'"
			am_ok=0
			return
		fi
	done
	if [ "$(git -C "$AM" rev-parse 'HEAD^{tree}')" != "$(git -C "$TREE" rev-parse 'HEAD^{tree}')" ]; then
		fail "patches/ applied with 'git am' does not give the tree in build/linux"
	else
		say "check: all patches apply with 'git am'"
	fi
}
if [ ${#files[@]} -eq 0 ]; then
	say "check: empty series, nothing to apply"
else
	apply_all
fi

# --- 2. checkpatch -----------------------------------------------------------
total_warn=0
for f in "${files[@]}"; do
	# --emacs, not --terse: --terse prints no "total:" line for a clean patch.
	out=$(cd "$TREE" && ./scripts/checkpatch.pl --strict --emacs --color=never \
		--show-types "$f" 2>&1) || true
	summary=$(printf '%s\n' "$out" | grep -E '^total: ' | tail -1 || true)
	errors=$(printf '%s\n' "$summary" | sed -nE 's/^total: ([0-9]+) errors.*/\1/p')
	warns=$(printf '%s\n' "$out" | grep -cE '^[^ ]+:[0-9]+: (WARNING|CHECK):' || true)
	[ -n "$errors" ] || { fail "checkpatch did not run on $(basename "$f")"; continue; }
	if [ "$errors" -gt 0 ] || [ "$warns" -gt 0 ]; then
		echo "  $(basename "$f"): $summary"
		printf '%s\n' "$out" | grep -E '^[^ ]+:[0-9]+: (ERROR|WARNING|CHECK):' |
			sed "s|^$f|    |" || true
	fi
	[ "$errors" -eq 0 ] || fail "checkpatch: $errors error(s) in $(basename "$f")"
	total_warn=$((total_warn + warns))
done
say "check: checkpatch done ($total_warn warning(s)/check(s) listed above)"

# --- 3. every patch builds on its own ----------------------------------------
restore_tree() {
	git -C "$TREE" checkout -q "$SERIES_BRANCH" 2>/dev/null || true
}

# Configured for this run already, per arch: .config then only has to be
# made again when a patch changes Kconfig. Configuring costs ~25 s a build
# (merge_config, olddefconfig, and the syncconfig it forces), which over
# every patch on two arches was most of what CI spent in 'make check'.
declare -A configured=()

configure_for() {
	local arch=$1
	# The test configs, as far as this tree state's Kconfig has their
	# options.
	CONFIG_LENIENT=1 "$TOP/scripts/build.sh" "$arch" config >/dev/null 2>&1 ||
		return 1
	configured[$arch]=1
}

# prebuild_base ARCH: when ARCH has never been built here (a fresh clone, as
# in CI), build the base first without the per-file kernel-doc pass of W=1,
# so that the patches' builds run kernel-doc only on what they recompile.
prebuild_base() {
	local arch=$1
	[ -e "$BUILD/$arch/kernel/vmlinux" ] && return 0
	say "check: building the base on $arch once (log: build/logs/check-$arch-base.log)"
	git -C "$TREE" checkout -q --detach "$BASE_REF"
	configure_for "$arch" &&
		run_logged "$LOGS/check-$arch-base.log" kmake "$arch" cmd_checkdoc= vmlinux
}

build_patch() {
	local arch=$1 commit=$2 n=$3 log touched
	log=$LOGS/check-$arch-$(printf '%04d' "$n").log
	touched=$(git -C "$TREE" diff --name-only "$commit^" "$commit")
	# A patch that touches only tools/ and Documentation/ leaves the
	# kernel as its parent built it; only its selftests need a build.
	if printf '%s\n' $touched | grep -qvE '^(tools|Documentation)/'; then
		if [ -z "${configured[$arch]:-}" ] ||
			printf '%s\n' $touched | grep -qE '(^|/)Kconfig[^/]*$'; then
			configure_for "$arch" ||
				{ fail "$arch: cannot configure the kernel for patch $n"; return; }
		fi
		if ! run_logged "$log" kmake "$arch" vmlinux; then
			fail "patch $n does not build on $arch (log: ${log#"$TOP"/})"
			return
		fi
	else
		: >"$log"
	fi
	# W=1 (and kernel-doc) findings in the files this patch touches.
	local f hits=""
	for f in $touched; do
		case "$f" in *.c | *.h) ;; *) continue ;; esac
		hits+=$(grep -E "(^|/)$f:[0-9]+(:[0-9]+)?: (warning|error):" "$log" || true)
	done
	if [ -n "$hits" ]; then
		echo "  patch $n, $arch: W=1 warnings in files it touches:"
		printf '%s\n' "$hits" | sort -u | sed "s|$TREE/||; s|^|    |"
	fi
	if printf '%s\n' $touched | grep -qE '^(tools/testing/selftests/kvm/|include/uapi/|arch/[^/]+/include/uapi/)'; then
		# The same output as 'make build', which then has nothing
		# left to do for the last patch.
		if ! run_logged "$log.selftests" selftests_make "$arch" \
			"$BUILD/$arch/selftests" "$BUILD/$arch/headers"; then
			fail "patch $n: KVM selftests do not build on $arch"
		fi
	fi
}

# affects_arch ARCH FILE...: whether any of the files can change what ARCH's
# kernel or KVM selftests build.  Another arch's arch/ tree or selftests and
# documentation cannot: a patch that touches nothing else builds on ARCH
# exactly when its parent does, so check.sh skips it there and the next
# patch that ARCH builds covers it.
affects_arch() {
	local arch=$1 dir f
	shift
	case "$arch" in
	x86_64) dir=x86 ;;
	*) dir=$arch ;;
	esac
	for f in "$@"; do
		case "$f" in
		Documentation/*) ;;
		arch/"$dir"/*) return 0 ;;
		arch/*) ;;
		tools/testing/selftests/kvm/*x86_64/*) [ "$arch" = x86_64 ] && return 0 ;;
		tools/testing/selftests/kvm/*aarch64/*) [ "$arch" = arm64 ] && return 0 ;;
		*) return 0 ;;
		esac
	done
	return 1
}

if [ "${CHECK_BUILD:-1}" = 1 ] && [ ${#files[@]} -gt 0 ] && [ "$am_ok" -eq 1 ]; then
	trap restore_tree EXIT
	mapfile -t commits < <(git -C "$TREE" rev-list --reverse "$BASE_REF..HEAD")
	for arch in $ARCHES; do
		prebuild_base "$arch" || fail "the base does not build on $arch"
	done
	n=0
	for c in "${commits[@]}"; do
		n=$((n + 1))
		git -C "$TREE" checkout -q --detach "$c"
		for arch in $ARCHES; do
			# shellcheck disable=SC2046 # file names have no spaces
			if ! affects_arch "$arch" $(git -C "$TREE" diff --name-only "$c^" "$c"); then
				say "check: patch $n/${#commits[@]} on $arch: skipped, touches nothing $arch builds"
				continue
			fi
			say "check: patch $n/${#commits[@]} on $arch: $(git -C "$TREE" log -1 --format=%s "$c")"
			build_patch "$arch" "$c" "$n"
		done
		# Say which touched C files no test config compiles (other
		# arches, options off): "builds" says nothing about them.
		unbuilt=""
		for f in $(git -C "$TREE" diff --name-only --diff-filter=AM "$c^" "$c" -- '*.c' ':!tools/'); do
			built=0
			for arch in $ARCHES; do
				[ -e "$BUILD/$arch/kernel/${f%.c}.o" ] && built=1
			done
			[ "$built" = 1 ] || unbuilt+=" $f"
		done
		[ -z "$unbuilt" ] || echo "  patch $n: not compiled by the x86_64/arm64 test configs:$unbuilt"
	done
	restore_tree
	trap - EXIT
fi

if [ "$failed" -gt 0 ]; then
	say "check: $failed problem(s)"
	exit 1
fi
say "check: OK"
