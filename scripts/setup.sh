#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages the workspace needs. Idempotent; prints nothing
# when everything is already there.
. "$(dirname "$0")/lib.sh"

PKGS=(
	git make gcc libc6-dev flex bison bc perl python3 python3-ply cpio xz-utils
	libelf-dev libssl-dev ccache
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	gcc-riscv64-linux-gnu gcc-s390x-linux-gnu
	qemu-system-x86 qemu-system-arm
)

installed_version() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
		awk '$1 == "ii" { print $2 }' || true
}

missing=()
for p in "${PKGS[@]}"; do
	[ -n "$(installed_version "$p")" ] || missing+=("$p")
done
have_base=$(installed_version "$BASE_PKG")
[ "$have_base" = "$BASE_PKG_VERSION" ] || missing+=("$BASE_PKG=$BASE_PKG_VERSION")

[ ${#missing[@]} -eq 0 ] && exit 0

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
say "setup: done"
