#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Make $TREE (build/linux, or $LINUX) a git tree of the pinned base with one
# commit per patch in patches/.
#
#   tree.sh          create or refresh the tree; refuses to discard work
#   tree.sh --ensure like above, but leave a tree with unexported work alone
#                    (used by 'make run' so a developer can boot work in progress)
. "$(dirname "$0")/lib.sh"

mode=${1:-}

verify_tarball() {
	[ -f "$BASE_TARBALL" ] || die "$BASE_TARBALL is missing; run 'make setup'"
	local v
	v=$(dpkg-query -W -f='${Version}' "$BASE_PKG" 2>/dev/null || true)
	[ "$v" = "$BASE_PKG_VERSION" ] ||
		die "$BASE_PKG is '$v', pinned is $BASE_PKG_VERSION (base.conf); run 'make setup'"
	say "tree: verifying sha256 of $BASE_TARBALL"
	echo "$BASE_SHA256  $BASE_TARBALL" | sha256sum --check --quiet ||
		die "sha256 of $BASE_TARBALL does not match base.conf; refusing to use it"
}

# Unpack the tarball into a fresh git repository with a deterministic commit.
create_base() {
	local tmp=$BUILD/linux.tmp
	verify_tarball
	rm -rf "$tmp"
	mkdir -p "$tmp"
	say "tree: unpacking $(basename "$BASE_TARBALL")"
	tar -C "$tmp" --strip-components=1 --no-same-owner -xf "$BASE_TARBALL"
	say "tree: committing the base (takes a minute)"
	(
		cd "$tmp"
		git init -q -b "$SERIES_BRANCH"
		git config core.autocrlf false
		git config core.fileMode true
		git config gc.auto 0
		# Debian's .gitignore ignores every top-level path ("/*"), so
		# add with force. New files in the series need 'git add -f' too.
		git add -f -A .
		GIT_AUTHOR_NAME="$BASE_AUTHOR_NAME" GIT_AUTHOR_EMAIL="$BASE_AUTHOR_EMAIL" \
		GIT_AUTHOR_DATE="$BASE_DATE" GIT_COMMITTER_DATE="$BASE_DATE" \
		GIT_COMMITTER_NAME="$BASE_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$BASE_AUTHOR_EMAIL" \
			git commit -q --no-verify -m "$BASE_SUBJECT"
		git update-ref "$BASE_REF" HEAD
	)
	local got
	got=$(git -C "$tmp" rev-parse HEAD)
	if [ -z "$BASE_COMMIT" ]; then
		warn "BASE_COMMIT is not set in base.conf; the base commit is $got"
	elif [ "$got" != "$BASE_COMMIT" ]; then
		die "base commit is $got, base.conf expects $BASE_COMMIT (tree left in $tmp)"
	fi
	mv "$tmp" "$TREE"
	say "tree: base commit $got"
}

# Use the developer's own v6.12.y tree: the base is its current HEAD.
adopt_user_tree() {
	git -C "$TREE" rev-parse -q --verify "$BASE_REF" >/dev/null && return
	tree_is_clean || die "$TREE has uncommitted changes"
	[ -z "$(series_hash)" ] ||
		die "$TREE already has a branch '$SERIES_BRANCH'; rename it first"
	git -C "$TREE" update-ref "$BASE_REF" HEAD
	git -C "$TREE" checkout -q -B "$SERIES_BRANCH"
	say "tree: using $TREE, base $(git -C "$TREE" log -1 --format='%h %s' HEAD)"
}

apply_series() {
	local f n=0
	git -C "$TREE" checkout -q -B "$SERIES_BRANCH" "$BASE_REF"
	while read -r f; do
		n=$((n + 1))
		if ! git -C "$TREE" am -q --committer-date-is-author-date "$f" \
			>"$LOGS/tree-am.log" 2>&1; then
			cat "$LOGS/tree-am.log" >&2
			git -C "$TREE" am --abort >/dev/null 2>&1 || true
			git -C "$TREE" checkout -q -B "$SERIES_BRANCH" "$BASE_REF"
			rm -f "$STAMP" "$HEADSTAMP"
			die "patch $(basename "$f") does not apply; the tree is left at the base"
		fi
	done < <(series_files)
	write_stamps
	say "tree: applied $n patch(es) on $(git -C "$TREE" rev-parse --short "$BASE_REF")"
}

if ! tree_exists; then
	[ -z "${LINUX:-}" ] || die "LINUX=$LINUX is not a git tree"
	create_base
	apply_series
	exit 0
fi

[ -z "${LINUX:-}" ] || adopt_user_tree
git -C "$TREE" rev-parse -q --verify "$BASE_REF" >/dev/null ||
	die "$TREE has no $BASE_REF; remove it and run 'make tree' again"
if [ -z "${LINUX:-}" ] && [ -n "$BASE_COMMIT" ] &&
	[ "$(git -C "$TREE" rev-parse "$BASE_REF")" != "$BASE_COMMIT" ]; then
	die "$TREE is based on another base than base.conf; move it away and run 'make tree'"
fi

if ! on_series_branch; then
	if [ "$mode" = "--ensure" ]; then
		say "tree: $TREE is not on branch '$SERIES_BRANCH'; using it as it is"
		exit 0
	fi
	die "$TREE is not on branch '$SERIES_BRANCH' (git checkout $SERIES_BRANCH)"
fi
no_git_op_in_progress

tree_ids=$(ids_of_tree)
file_ids=$(ids_of_files)
if [ "$tree_ids" = "$file_ids" ] && tree_is_clean; then
	# Same diffs; a reworded commit message still has to be exported.
	if [ -f "$HEADSTAMP" ] && [ "$(series_hash)" != "$(cat "$HEADSTAMP")" ] &&
		[ "$(series_hash)" != "$(git -C "$TREE" rev-parse "$BASE_REF")" ]; then
		say "tree: $TREE has new commits (same diffs as patches/); 'make export' to keep them"
		exit 0
	fi
	write_stamps
	say "tree: $TREE is up to date with patches/"
	exit 0
fi

# The tree differs from patches/. It is safe to rebuild it only if the
# series branch is still exactly what it was last synced to (so patches/ is
# what changed), or holds nothing but the base.
if tree_is_clean && { [ "$(series_hash)" = "$(git -C "$TREE" rev-parse "$BASE_REF")" ] ||
	{ [ -f "$HEADSTAMP" ] && [ "$(series_hash)" = "$(cat "$HEADSTAMP")" ]; }; }; then
	say "tree: patches/ changed; re-applying the series"
	apply_series
	exit 0
fi

if [ "$mode" = "--ensure" ]; then
	say "tree: $TREE has work that is not in patches/; using it as it is"
	exit 0
fi

cat >&2 <<MSG
error: $TREE has work that is not in patches/ (uncommitted changes, or commits
       that 'make export' has not written out). Refusing to throw it away.
       Keep it:    commit it, then 'make export'
       Discard it: rm -rf $TREE && make tree
MSG
exit 1
