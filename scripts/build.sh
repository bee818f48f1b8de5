#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the test kernel for one arch out of tree, then its uapi headers, the
# KVM selftests (static) and the in-guest runner.
#
#   build.sh ARCH [config|kernel|selftests|all]
#
# The kernel is always built with W=1 so that 'make check', which builds each
# patch in the same output directory, only recompiles what a patch changes.
# The per-file kernel-doc pass that W=1 adds is skipped here (cmd_checkdoc=)
# and done by 'make check' on the files a patch touches.
. "$(dirname "$0")/lib.sh"

arch=$(kernel_arch "${1:-x86_64}")
what=${2:-all}
cross=$(cross_compile "$arch")
OUT=$BUILD/$arch
KOUT=$OUT/kernel

tree_exists || die "no tree at $TREE; run 'make tree'"
command -v ccache >/dev/null || die "ccache missing; run 'make setup'"
ccache --max-size=8G >/dev/null 2>&1 || true

image_target() {
	case "$arch" in
	x86_64) echo bzImage ;;
	arm64) echo Image ;;
	esac
}

image_path() {
	case "$arch" in
	x86_64) echo arch/x86/boot/bzImage ;;
	arm64) echo arch/arm64/boot/Image ;;
	esac
}

# EXTRA_FRAGMENTS: more fragments on top, e.g. configs/debug.config with
# BUILD=build/debug for a lockdep/KASAN/DEBUG_VM kernel in its own tree.
fragments() {
	local f
	echo "$TOP/configs/common.config"
	echo "$TOP/configs/$arch.config"
	for f in ${EXTRA_FRAGMENTS:-}; do
		case "$f" in /*) echo "$f" ;; *) echo "$TOP/$f" ;; esac
	done
}

# Every option a fragment asks for must be in the final .config as asked.
verify_config() {
	local f line opt bad=0
	while read -r f; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*)
				grep -qxF -- "$line" "$KOUT/.config" && continue
				opt=${line%%=*}
				echo "  $f: asked '$line', got '$(grep -E "^(# )?$opt[= ]" "$KOUT/.config" || echo "$opt unset")'" >&2
				bad=1
				;;
			"# CONFIG_"*" is not set")
				opt=${line#\# }
				opt=${opt%% *}
				grep -q "^$opt=" "$KOUT/.config" || continue
				echo "  $f: asked '$line', got '$(grep "^$opt=" "$KOUT/.config")'" >&2
				bad=1
				;;
			esac
		done <"$f"
	done < <(fragments)
	[ "$bad" -eq 0 ] && return
	# 'make check' builds every patch, and an early patch may not have
	# an option that a later one adds (e.g. a test driver's).
	[ "${CONFIG_LENIENT:-0}" = 1 ] && return
	die "Kconfig options were dropped from $KOUT/.config (see above)"
}

configure() {
	local sum
	sum=$( (fragments | xargs cat; git -C "$TREE" rev-parse HEAD:scripts/kconfig 2>/dev/null) | sha256sum | cut -c1-16)
	if [ -f "$KOUT/.config" ] && [ "$(cat "$KOUT/.config.frags" 2>/dev/null)" = "$sum" ]; then
		# Kconfig may have changed under a patch; keep .config in sync,
		# and ask again for the options that an earlier tree state
		# (e.g. an earlier patch, under 'make check') did not have.
		mapfile -t frags < <(fragments)
		run_logged "$LOGS/$arch-merge.log" env ARCH="$arch" \
			"$TREE/scripts/kconfig/merge_config.sh" -m -O "$KOUT" "$KOUT/.config" "${frags[@]}"
		run_logged "$LOGS/$arch-olddefconfig.log" kmake "$arch" olddefconfig
		verify_config
		return
	fi
	say "build $arch: configuring (tinyconfig + $(fragments | xargs -n1 basename | tr '\n' ' '))"
	mkdir -p "$KOUT"
	run_logged "$LOGS/$arch-config.log" kmake "$arch" tinyconfig
	mapfile -t frags < <(fragments)
	run_logged "$LOGS/$arch-merge.log" env ARCH="$arch" \
		"$TREE/scripts/kconfig/merge_config.sh" -m -O "$KOUT" "$KOUT/.config" "${frags[@]}"
	run_logged "$LOGS/$arch-olddefconfig.log" kmake "$arch" olddefconfig
	verify_config
	echo "$sum" >"$KOUT/.config.frags"
}

build_kernel() {
	configure
	say "build $arch: kernel (log: build/logs/$arch-kernel.log)"
	local start=$(date +%s)
	run_logged "$LOGS/$arch-kernel.log" kmake "$arch" cmd_checkdoc= "$(image_target)" ||
		die "kernel build failed for $arch"
	cp "$KOUT/$(image_path)" "$OUT/kernel.img"
	say "build $arch: kernel done in $(($(date +%s) - start))s"
}

build_selftests() {
	local hdr=$OUT/headers start
	start=$(date +%s)
	say "build $arch: uapi headers and KVM selftests"
	run_logged "$LOGS/$arch-selftests.log" selftests_make "$arch" \
		"$OUT/selftests" "$hdr" || die "KVM selftests build failed for $arch"
	run_logged "$LOGS/$arch-init.log" ${cross}gcc -static -O2 -Wall -Wextra \
		-Werror -o "$OUT/init" "$TOP/guest/init.c" ||
		die "guest runner build failed for $arch"
	say "build $arch: selftests done in $(($(date +%s) - start))s"
}

case "$what" in
config) configure ;;
kernel) build_kernel ;;
selftests) build_selftests ;;
all) build_kernel; build_selftests ;;
*) die "unknown build step '$what'" ;;
esac
