#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Write the commits on top of the base back out to patches/ as
# 'git format-patch' output. Stable: running it twice gives no diff.
. "$(dirname "$0")/lib.sh"

tree_exists || die "no tree at $TREE; run 'make tree'"
tree_is_clean || die "$TREE has uncommitted changes; commit them first"
if [ "${FORCE:-0}" != 1 ]; then
	no_git_op_in_progress
	# Detached (e.g. an interrupted 'make check'): HEAD may be mid-series.
	on_series_branch ||
		die "$TREE is not on branch '$SERIES_BRANCH'; exporting HEAD could drop patches (FORCE=1 to export anyway)"
	# No stamp: the last 'make tree' failed (or never ran), so the tree
	# may lack patches that patches/ has.
	[ -f "$STAMP" ] ||
		die "$TREE was not made from patches/ by a successful 'make tree'; exporting it could drop patches (FORCE=1 to export anyway)"
	# patches/ changed since the tree was made (git pull, hand edits).
	[ "$(ids_of_files)" = "$(cat "$STAMP")" ] ||
		die "patches/ changed since 'make tree' made $TREE; exporting would overwrite that ('make tree' first, or FORCE=1)"
fi

# Debian's .gitignore hides every new top-level path; new files that were
# never added with 'git add -f' would silently miss the series.
hidden=$(git -C "$TREE" ls-files --others --ignored --exclude-standard \
	--directory | grep -v -e '^\.' -e '^tools/arch/[^/]*/include/generated/$' || true)
if [ -n "$hidden" ]; then
	warn "untracked files in $TREE that .gitignore hides (add them with 'git add -f' if they belong to the series):"
	printf '  %s\n' $hidden >&2
fi

base=$(git -C "$TREE" rev-parse "$BASE_REF")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Fixed abbreviation: the default grows with the number of objects, which
# differs between build/linux and a full-history tree.
git -C "$TREE" -c core.abbrev=12 format-patch -q --zero-commit --no-signature --base="$base" \
	--no-numbered --output-directory "$tmp" "$base..HEAD"

# Replace the numbered patches, keep the hand-written cover letter.
find "$PATCHES" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
	! -name '0000-*' -delete
mkdir -p "$PATCHES"
n=0
for f in "$tmp"/*.patch; do
	[ -e "$f" ] || continue
	cp "$f" "$PATCHES/"
	n=$((n + 1))
done
write_stamps
say "export: $n patch(es) in patches/"
git -C "$TOP" status --short -- patches
