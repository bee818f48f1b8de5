# SPDX-License-Identifier: GPL-2.0
# Entry points of the series workspace; the work is done by scripts/.
#
#   make run [ARCH=x86_64|arm64]  set up, build, boot under QEMU, run the plan
#   make test                     the full gate (check + both arches)
#   make test-debug               both arches' plans on KASAN/lockdep/DEBUG_VM
#                                 kernels (build/debug), about an hour
#   make cross                    compile-test arch/*/kvm + virt/kvm for riscv
#                                 and s390 (CROSS_ARCHES="riscv s390")
#   make compare                  base vs series: pfnmap_test must fail on the
#                                 base and pass, 4K fault perf ratio >= 0.98
#   make fresh-check              make test in a fresh mmdebstrap root, as a
#                                 new user's machine would run it (root)
#   make tree | export | check | build | shell | setup | clean
#
# LINUX=/path/to/v6.12.y/tree uses your own kernel tree instead of build/linux.

ARCH ?= x86_64
SHELL := /bin/bash
# Don't leak the make-level ARCH into the kernel builds; the scripts pass it.
unexport ARCH

.PHONY: all setup tree export check build run shell test test-debug cross \
	compare fresh-check clean

all: run

setup:
	@scripts/setup.sh

tree: setup
	@scripts/tree.sh

export:
	@scripts/export.sh

check: setup
	@scripts/check.sh

build: setup
	@scripts/tree.sh --ensure
	@scripts/build.sh $(ARCH) all

run: setup
	@scripts/tree.sh --ensure
	@scripts/build.sh $(ARCH) all
	@python3 scripts/run.py $(ARCH)

shell: setup
	@scripts/tree.sh --ensure
	@scripts/build.sh $(ARCH) all
	@python3 scripts/run.py $(ARCH) --shell

test: setup
	@scripts/test.sh

test-debug: setup
	@scripts/test-debug.sh

cross: setup
	@scripts/tree.sh --ensure
	@scripts/cross.sh

compare: setup
	@scripts/tree.sh --ensure
	@scripts/compare.sh $(COMPARE_ARCHES)

fresh-check:
	@scripts/fresh-check.sh

clean:
	rm -rf build/x86_64 build/arm64 build/cross-* build/base build/logs build/check-am
