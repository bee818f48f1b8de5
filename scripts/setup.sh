#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages the workspace needs, then check that every
# program the scripts (and the kernel and selftests builds they run) call is
# there. Idempotent; prints nothing when everything is already there.
#
#   setup.sh [PACKAGE[:PROGRAM]...]
#
# Arguments are extra packages for one script's own use (fresh-check.sh
# passes mmdebstrap); PROGRAM, if given, is checked like the ones below.
. "$(dirname "$0")/lib.sh"

# What 'make run', 'make test', 'make check', 'make shell', 'make compare'
# and 'make cross' use. A program that only a kernel build calls deep inside
# (rsync for headers_install) is easy to miss here: add it to PROGS below
# as well, so that its absence is named at once and not 20 minutes later.
PKGS=(
	git make gcc libc6-dev flex bison bc perl python3 python3-ply cpio xz-utils
	libelf-dev libssl-dev ccache rsync
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	gcc-riscv64-linux-gnu gcc-s390x-linux-gnu
	qemu-system-x86 qemu-system-arm busybox-static
)

# Every program called by scripts/, Makefile, .ci/run and the builds they
# start (kbuild, headers_install, the selftests' Makefile, run.py).
PROGS=(
	# scripts/ and the Makefile
	bash make git python3 cpio tar xz sha256sum sha1sum dpkg-query apt-get
	apt-cache awk sed grep find sort xargs cut tr head tail mktemp nproc
	date seq ccache
	# kbuild, headers_install and the KVM selftests
	gcc ld as ar nm objcopy objdump strip flex bison bc perl rsync
	aarch64-linux-gnu-gcc aarch64-linux-gnu-ld aarch64-linux-gnu-strip
	aarch64-linux-gnu-objcopy
	# make cross
	riscv64-linux-gnu-gcc s390x-linux-gnu-gcc
	# run.py (make run, make test, make compare) and make shell
	qemu-system-x86_64 qemu-system-aarch64 busybox
)

# Headers and libraries whose absence would also only show deep in a build:
# objtool and the selftests (libelf), the static selftests (libc.a), the
# arm64 static selftests (the cross libc.a).
FILES=(
	/usr/include/gelf.h
	/usr/include/openssl/evp.h
	/usr/lib/x86_64-linux-gnu/libc.a
	/usr/aarch64-linux-gnu/lib/libc.a
)

# apt-get through sudo when not root.
[ "$(id -u)" -eq 0 ] || PROGS+=(sudo)

for arg in "$@"; do
	PKGS+=("${arg%%:*}")
	case "$arg" in *:*) PROGS+=("${arg#*:}") ;; esac
done

installed_version() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
		awk '$1 == "ii" { print $2 }' || true
}

# Name everything the workspace needs but this machine lacks, and stop.
check_programs() {
	local p gone=()
	for p in "${PROGS[@]}"; do
		command -v "$p" >/dev/null 2>&1 || gone+=("$p")
	done
	for p in "${FILES[@]}"; do
		[ -e "$p" ] || gone+=("$p")
	done
	[ ${#gone[@]} -eq 0 ] && return
	printf '[%s] error: setup: missing on this machine: %s\n' \
		"$(elapsed)" "${gone[*]}" >&2
	cat >&2 <<MSG
       The workspace's scripts or the builds they run call these. Install
       the Debian package that provides each (apt-file search, or
       'apt-get install --reinstall' if it was removed by hand), and add
       it to PKGS in scripts/setup.sh if it is not there.
MSG
	exit 1
}

missing=()
for p in "${PKGS[@]}"; do
	[ -n "$(installed_version "$p")" ] || missing+=("$p")
done
have_base=$(installed_version "$BASE_PKG")
[ "$have_base" = "$BASE_PKG_VERSION" ] || missing+=("$BASE_PKG=$BASE_PKG_VERSION")

if [ ${#missing[@]} -eq 0 ]; then
	check_programs
	exit 0
fi

say "setup: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
run_logged "$LOGS/setup-update.log" $SUDO apt-get update -q ||
	die "apt-get update failed (see $LOGS/setup-update.log)"
if ! run_logged "$LOGS/setup-install.log" $SUDO apt-get install -y -q \
	--no-install-recommends "${missing[@]}"; then
	if [ "$(installed_version "$BASE_PKG")" != "$BASE_PKG_VERSION" ]; then
		cat >&2 <<MSG
error: the pinned base $BASE_PKG=$BASE_PKG_VERSION cannot be installed.
       Versions apt can see now:
$(apt-cache policy "$BASE_PKG" 2>/dev/null | sed 's/^/         /')
       The workspace does not drift to another version on its own. To move
       the pin, follow the comment at the top of base.conf.
MSG
	fi
	die "apt-get install failed (see $LOGS/setup-install.log)"
fi
[ "$(installed_version "$BASE_PKG")" = "$BASE_PKG_VERSION" ] ||
	die "$BASE_PKG is $(installed_version "$BASE_PKG"), not the pinned $BASE_PKG_VERSION; see base.conf"
check_programs
say "setup: done"
