#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prove that the README's 'make test' works on a fresh Debian machine, as
# root: build a minimal root of this host's release with mmdebstrap (the
# minbase variant plus make, nothing else), copy a clean clone of this
# repository and ../shared into it, and run 'make test' there in a chroot,
# with an empty ccache. A package that 'make setup' forgets shows up here,
# not on a newcomer's machine.
#
#   fresh-check.sh            (as root; about 45 minutes on 2 cores)
#
# FRESH_ROOT   where the root is built (default build/fresh/root; removed
#              and made again on every run)
# FRESH_SOURCES  apt sources files for the root (default: the host's
#              enabled /etc/apt/sources.list and sources.list.d/*)
# FRESH_TARGET the make target to run (default: test)
#
# The clone is of HEAD: commit first, uncommitted changes are not tested.
# Not part of 'make test'; run it before a release and after any change to
# scripts/setup.sh. The chroot's output is in build/logs/fresh-check.log;
# the script ends with the exit code, the summary line of 'make test' and
# the wall times, on stdout and at the end of that log.
#
# The root's /dev, /proc and /sys mounts live in a private mount namespace
# of this script: no other process sees them, and they go away with it
# however it ends, so nothing on the host can delete /dev through them.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "fresh-check needs root (mmdebstrap, chroot, mounts)"
if [ -z "${FRESH_NS:-}" ]; then
	FRESH_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi
"$TOP/scripts/setup.sh" mmdebstrap:mmdebstrap

ROOT=$(realpath -m "${FRESH_ROOT:-$BUILD/fresh/root}")
# A root fresh-check made has this next to it (mmdebstrap wants an empty
# directory, so the mark cannot be inside).
MARK=$ROOT.fresh-check-root
case "$ROOT" in
*[[:space:]]*) die "FRESH_ROOT must not contain white space: '$ROOT'" ;;
/ | /bin | /boot | /dev | /etc | /home | /lib | /proc | /root | /run | /sys | /tmp | /usr | /var | /work)
	die "FRESH_ROOT=$ROOT: refusing to use a system directory" ;;
esac
if [ -d "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ] && [ ! -e "$MARK" ]; then
	die "$ROOT is not empty and was not made by fresh-check (no $MARK); refusing to remove it"
fi
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -n 9 || die "another fresh-check is using $ROOT"
TARGET=${FRESH_TARGET:-test}
LOG=$LOGS/fresh-check.log
. /etc/os-release
SUITE=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}

if [ -n "${FRESH_SOURCES:-}" ]; then
	read -r -a sources <<<"$FRESH_SOURCES"
else
	sources=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; do
		[ -s "$f" ] && sources+=("$f")
	done
fi
[ ${#sources[@]} -gt 0 ] || die "no apt sources found on the host; set FRESH_SOURCES"

if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no)" ]; then
	warn "$TOP has uncommitted changes; the fresh root gets HEAD without them"
fi

mounted_under() {
	awk -v r="$(realpath -m "$1")" '$5 == r || index($5, r "/") == 1 { print $5 }' \
		/proc/self/mountinfo
}

umount_all() {
	local m
	# Deepest first.
	for m in $(mounted_under "$ROOT" | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

# Never remove a root that still has /dev or /proc bound into it.
umount_all
[ -z "$(mounted_under "$ROOT")" ] ||
	die "cannot unmount everything under $ROOT: $(mounted_under "$ROOT" | tr '\n' ' ')"
touch "$MARK"
rm -rf --one-file-system "$ROOT"
mkdir -p "$ROOT"
trap umount_all EXIT

start=$(date +%s)
say "fresh-check: mmdebstrap $SUITE (minbase + make) into ${ROOT#"$TOP"/}, sources: ${sources[*]}"
# ca-certificates only so that https sources work; nothing of it is used
# otherwise. A source whose Signed-By keyring is not Debian's needs that
# keyring in the root: set FRESH_SOURCES to Debian's sources instead.
run_logged "$LOGS/fresh-mmdebstrap.log" mmdebstrap --variant=minbase \
	--include=make,ca-certificates "$SUITE" "$ROOT" "${sources[@]}" ||
	die "mmdebstrap failed (log: ${LOGS#"$TOP"/}/fresh-mmdebstrap.log)"

say "fresh-check: a clean clone of $(git -C "$TOP" rev-parse --short HEAD) and ../shared"
mkdir -p "$ROOT/work"
git clone -q --no-hardlinks "$TOP" "$ROOT/work/main"
if [ -d "$TOP/../shared" ]; then
	cp -a "$TOP/../shared" "$ROOT/work/shared"
fi
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

mount --rbind /dev "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"

say "fresh-check: 'make $TARGET' in the chroot (log: ${LOG#"$TOP"/})"
tstart=$(date +%s)
rc=0
# A clean environment: no ccache, CCACHE_DIR or PATH of the host.
chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	/bin/bash -c "cd /work/main && make $TARGET" >"$LOG" 2>&1 || rc=$?
end=$(date +%s)
umount_all

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOG" | tail -1 || true)
echo "---- last 25 lines of ${LOG#"$TOP"/} ----"
tail -n 25 "$LOG"
echo "----"
{
	say "fresh-check: 'make $TARGET' exit code $rc"
	say "fresh-check: summary: ${summary:-(none)}"
	say "fresh-check: wall time: make $TARGET $((end - tstart)) s, total with mmdebstrap $((end - start)) s"
} | tee -a "$LOG"
[ "$rc" -eq 0 ]
