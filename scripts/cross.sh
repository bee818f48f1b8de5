#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Compile-test the KVM code of the arches the QEMU tests do not cover, with
# Debian's cross compilers: for each arch, defconfig plus CONFIG_KVM=y in
# build/cross-ARCH/kernel, then 'prepare' and the directory arch/ARCH/kvm/.
# That directory's kvm-y lists virt/kvm/*.o too (virt/kvm/Makefile.kvm), so the
# generic KVM code is compiled for the arch; the script fails if it was not.
#
#   cross.sh [ARCH...]        default: $CROSS_ARCHES, else "riscv s390"
#
# W=1, as 'make build'; the kernel-doc pass of W=1 is skipped (cmd_checkdoc=)
# so that only compiler warnings are reported. Warnings in KVM files
# (arch/ARCH/kvm, virt/kvm, include/linux/kvm*, arch/ARCH/include/asm/kvm*)
# are listed; any build error fails. Nothing is booted.
. "$(dirname "$0")/lib.sh"

read -r -a ARCHES <<<"${*:-${CROSS_ARCHES:-riscv s390}}"

cross_prefix() {
	case "$1" in
	riscv) echo riscv64-linux-gnu- ;;
	s390) echo s390x-linux-gnu- ;;
	*) die "cross: unknown arch '$1' (use riscv or s390)" ;;
	esac
}

# Kconfig options enabled on top of the arch's defconfig; each must end up =y.
kvm_options() {
	case "$1" in
	riscv | s390) echo CONFIG_VIRTUALIZATION CONFIG_KVM ;;
	esac
}

tree_exists || die "no tree at $TREE; run 'make tree'"
CCACHE=
if command -v ccache >/dev/null; then
	CCACHE="ccache "
	ccache --max-size=8G >/dev/null 2>&1 || true
fi

# cross_make ARCH ARGS...: the kernel build of ARCH in build/cross-ARCH/kernel.
# Same command line for every step, so that kbuild never rebuilds for a
# difference in flags.
cross_make() {
	local arch=$1 cross
	shift
	cross=$(cross_prefix "$arch")
	make -C "$TREE" O="$BUILD/cross-$arch/kernel" ARCH="$arch" \
		CROSS_COMPILE="$cross" CC="$CCACHE${cross}gcc" HOSTCC="${CCACHE}gcc" \
		W=1 cmd_checkdoc= -j"$JOBS" "$@"
}

configure() {
	local arch=$1 kout=$2 opt args=()
	run_logged "$LOGS/cross-$arch-config.log" cross_make "$arch" defconfig ||
		die "cross: $arch: defconfig failed"
	for opt in $(kvm_options "$arch"); do
		args+=(-e "${opt#CONFIG_}")
	done
	"$TREE/scripts/config" --file "$kout/.config" "${args[@]}" ||
		die "cross: $arch: scripts/config failed"
	run_logged "$LOGS/cross-$arch-olddefconfig.log" cross_make "$arch" olddefconfig ||
		die "cross: $arch: olddefconfig failed"
	for opt in $(kvm_options "$arch"); do
		grep -qx "$opt=y" "$kout/.config" ||
			die "cross: $arch: $opt=y was dropped from $kout/.config (got '$(grep -E "^(# )?${opt}[= ]" "$kout/.config" || echo "$opt unset")')"
	done
}

# Compiler warnings in KVM files, from the logs given, relative to the tree.
kvm_warnings() {
	local arch=$1
	shift
	grep -hE "(^|/)(arch/$arch/kvm/|virt/kvm/|include/linux/kvm|arch/$arch/include/asm/kvm)[^: ]*:[0-9]+:([0-9]+:)? warning:" "$@" |
		sed "s|^$TREE/||; s|^arch/$arch/kvm/\.\./\.\./\.\./||" | sort -u || true
}

all_warnings() {
	grep -hE '^[^ ]+:[0-9]+:([0-9]+:)? warning:' "$@" | sort -u || true
}

# HEAD and the uncommitted changes of the tree, read without taking git's
# index lock: a tree edited during the build can give spurious results.
tree_state() {
	{
		git -C "$TREE" --no-optional-locks rev-parse HEAD
		git -C "$TREE" --no-optional-locks diff HEAD
	} 2>/dev/null | sha1sum
}

failed=0
for arch in "${ARCHES[@]}"; do
	cross=$(cross_prefix "$arch")
	command -v "${cross}gcc" >/dev/null ||
		die "cross: ${cross}gcc missing; run 'make setup'"
	kout=$BUILD/cross-$arch/kernel
	mkdir -p "$kout"
	start=$(date +%s)
	state=$(tree_state)
	say "cross: $arch: configuring (defconfig + $(kvm_options "$arch"))"
	configure "$arch" "$kout"
	say "cross: $arch: prepare, then arch/$arch/kvm/ (logs: build/logs/cross-$arch-*.log)"
	plog=$LOGS/cross-$arch-prepare.log
	klog=$LOGS/cross-$arch-kvm.log
	: >"$klog"
	rc=0
	run_logged "$plog" cross_make "$arch" prepare &&
		run_logged "$klog" cross_make "$arch" "arch/$arch/kvm/" || rc=$?
	[ "$(tree_state)" = "$state" ] ||
		warn "cross: $arch: $TREE changed during the build; what follows may come from a half-edited file: run again"
	if [ "$rc" -ne 0 ]; then
		warns=$(kvm_warnings "$arch" "$plog" "$klog")
		[ -z "$warns" ] || printf '%s\n' "$warns" | sed 's/^/    /'
		printf '[%s] cross: %s: FAIL: arch/%s/kvm does not build (%ds)\n' \
			"$(elapsed)" "$arch" "$arch" $(($(date +%s) - start)) >&2
		failed=$((failed + 1))
		continue
	fi
	# What was compiled: the objects of arch/ARCH/kvm and virt/kvm, without
	# the composite kvm.o itself.
	mapfile -t objs < <(cd "$kout" && find "arch/$arch/kvm" virt/kvm -name '*.o' \
		! -path "arch/$arch/kvm/kvm.o" ! -name '*.mod.o' 2>/dev/null | sort)
	nvirt=$(printf '%s\n' "${objs[@]}" | grep -c '^virt/kvm/' || true)
	if [ ! -e "$kout/virt/kvm/kvm_main.o" ]; then
		printf '[%s] cross: %s: FAIL: virt/kvm was not compiled (no virt/kvm/kvm_main.o)\n' \
			"$(elapsed)" "$arch" >&2
		failed=$((failed + 1))
		continue
	fi
	warns=$(kvm_warnings "$arch" "$plog" "$klog")
	nwarn=$(printf '%s' "$warns" | grep -c . || true)
	nother=$(($(all_warnings "$plog" "$klog" | grep -c . || true) - nwarn))
	if [ "$nwarn" -gt 0 ]; then
		echo "  $arch: W=1 warnings in KVM files:"
		printf '%s\n' "$warns" | sed 's/^/    /'
	fi
	[ "$nother" -le 0 ] ||
		echo "  $arch: $nother other warning(s) outside the KVM files (see ${klog#"$TOP"/})"
	say "cross: $arch: arch/$arch/kvm built (${#objs[@]} objects, $nwarn warnings) in $(($(date +%s) - start))s; $nvirt of the objects in virt/kvm"
done

[ "$failed" -eq 0 ] || die "cross: $failed arch(es) failed"
