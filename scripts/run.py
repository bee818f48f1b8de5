#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot the test kernel under QEMU and run a test plan.

    run.py ARCH [--plan FILE] [--shell] [--repeat N] [--debug]

The plan (tests/plan.ARCH) has one test per line:

    NAME  TIMEOUT  VARIANT  [MARK=VALUE...]  COMMAND [ARGS...]  # notes

and settings on lines that start with 'set':

    set leak memfree_kb:N,slab:N    leak tolerance of every test (see below)
    set leak-debug memfree_kb:N,slab:N    the same with --debug (default: leak)

VARIANT is '-' or extra kernel parameters joined with ',' (for example
'kvm_amd.npt=0'); every distinct variant is one boot. The pseudo-parameter
'tcg=single' is not passed to the kernel: it boots QEMU with single-threaded
TCG instead of MTTCG (see the README's "Known problem: nested SVM under TCG").
Nor are 'cpu=MODEL', which replaces the arch's QEMU CPU model (arm64:
'cpu=neoverse-n1' has no stage-2 FWB, 'cpu=cortex-a57' no VHE, so KVM runs
nVHE), 'machine=OPT', which adds OPT to the -M options (arm64:
'machine=mte=on'), and 'dev=edu', which adds QEMU's edu test device (PCI
1234:11e8, BAR0 1 MiB of MMIO) alone behind a PCIe root port of its own, so
that a secondary bus reset of the port is how VFIO resets it (edu has no
FLR); vfio_dmabuf_test binds it to vfio-pci. Other boots have no edu, so
their PCI enumeration is unchanged. 'qemu_mem=SIZE' sets QEMU's memory
(default 4G), for boots that reserve 1G hugetlb pages
('hugepagesz=1G,hugepages=N', which on x86 the CPU's pdpe1gb allows); the
kernel's own 'mem=' is passed on as usual. COMMAND is a selftest
binary relative to the selftests output directory, or a built-in of the
in-guest runner ('@kunit SUITE'). Each boot also gets a 'boot-log' check
that fails on a splat in the kernel log before the runner started, and a 'post-log' check of the
log after the last test.

A test that skips (exit code 4) FAILS, because in these fixed QEMU machines
a skip means a missing config or a broken capability. skip=REGEX allows a
skip whose output matches REGEX (for hardware QEMU cannot provide).

xfail=REGEX marks a known failure that cannot be fixed here (e.g. QEMU TCG
differs from hardware). It is strict: the test must fail AND its output must
match REGEX (Python syntax, no spaces: use \s) to count as XFAIL, which the
summary counts as skipped and the report lists with the plan's reason.
Only a plain non-zero exit qualifies: a timeout, a signal or a kernel splat
is a FAIL, and so is a pass ("XPASS: update the plan").

The in-guest runner checks every test for leaks (guest/init.c): free
memory may shrink by at most memfree_kb, each of KVM's slab caches may grow
by at most 'slab' objects, hugetlb pages and the test_pfnmap driver's pages
must come back exactly. leak=off or leak=memfree_kb:N,slab:N overrides the
plan's tolerance for one test.

only=normal or only=debug runs a test only without or only with --debug.
--debug runs the plan on the debug kernels (BUILD=build/debug, see
scripts/test-debug.sh): every timeout, and the boot margin, is multiplied by
DEBUG_SLOWDOWN (default 4), because KASAN, lockdep and DEBUG_VM make the
selftests about that much slower.

Every test the plan names and that did not report a result counts as
failed. The summary goes to build/ARCH/summary (PASSED FAILED SKIPPED).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
LOGS = os.path.join(BUILD, "logs")
T0 = float(os.environ.get("T0", time.time()))

QEMU = {
    "x86_64": {
        "binary": "qemu-system-x86_64",
        "args": ["-M", "q35", "-cpu", "EPYC,+svm,+npt,+pdpe1gb"],
        "console": "ttyS0",
        "boot_margin": 180,
        "strip": "strip",
    },
    "arm64": {
        "binary": "qemu-system-aarch64",
        # pauth-impdef: QEMU's own pointer-auth algorithm, much cheaper to
        # emulate than the architected QARMA; the guest cannot tell.
        "args": ["-M", "virt,virtualization=on,gic-version=3",
                 "-cpu", "max,pauth-impdef=on"],
        "console": "ttyAMA0",
        "boot_margin": 300,
        "strip": "aarch64-linux-gnu-strip",
    },
}

RESULT_RE = re.compile(r"^(not )?ok (\d+) (\S+)(?: # ?(.*))?$")


def stamp():
    s = int(time.time() - T0)
    return "[%d:%02d]" % (s // 60, s % 60)


def say(msg):
    print("%s %s" % (stamp(), msg), flush=True)


class Test:
    def __init__(self, name, timeout, variant, argv, where, xfail=None,
                 skip=None, leak="-"):
        self.name = name
        self.leak = leak
        self.xfail = xfail
        self.skip = skip
        self.timeout = timeout
        self.variant = variant
        self.argv = argv
        self.where = where
        self.status = None      # PASS, FAIL, SKIP
        self.detail = "did not run"
        self.time = None
        self.log = []


MARKS = ("xfail", "skip", "leak", "only")
LEAK_RE = re.compile(r"(off|-|((memfree_kb|slab):\d+)(,(memfree_kb|slab):\d+)*)$")
DEBUG_SLOWDOWN = int(os.environ.get("DEBUG_SLOWDOWN", "4"))


def parse_plan(path, debug=False, settings=None):
    tests = []
    seen = set()
    if settings is None:
        settings = {}
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = re.sub(r"(^|\s)#.*$", "", raw).strip()
            if not line:
                continue
            fields = line.split()
            where = "%s:%d" % (os.path.relpath(path, TOP), lineno)
            if fields[0] == "set":
                if (len(fields) != 3 or fields[1] not in ("leak", "leak-debug") or
                        not LEAK_RE.match(fields[2])):
                    sys.exit("%s: expected 'set leak[-debug] memfree_kb:N,slab:N'" % where)
                settings[fields[1]] = fields[2]
                continue
            if len(fields) < 4:
                sys.exit("%s: need NAME TIMEOUT VARIANT COMMAND" % where)
            name, timeout, variant = fields[0], fields[1], fields[2]
            for p in variant.split(","):
                if p.startswith("dev=") and p[len("dev="):] not in DEVICES:
                    sys.exit("%s: unknown device '%s' (known: %s)" % (
                        where, p, " ".join(sorted(DEVICES))))
            if not timeout.isdigit() or int(timeout) <= 0:
                sys.exit("%s: bad timeout '%s'" % (where, timeout))
            if name in seen:
                sys.exit("%s: duplicate test name '%s'" % (where, name))
            seen.add(name)
            argv, marks = fields[3:], {}
            while argv and argv[0].split("=", 1)[0] in MARKS:
                key, _, value = argv.pop(0).partition("=")
                if key == "leak" and not LEAK_RE.match(value):
                    sys.exit("%s: bad leak=%s" % (where, value))
                elif key == "only" and value not in ("normal", "debug"):
                    sys.exit("%s: only= takes 'normal' or 'debug'" % where)
                elif key in ("xfail", "skip"):
                    try:
                        re.compile(value)
                    except re.error as e:
                        sys.exit("%s: bad %s regex: %s" % (where, key, e))
                marks[key] = value
            if not argv:
                sys.exit("%s: no command" % where)
            if marks.get("only", "debug" if debug else "normal") != (
                    "debug" if debug else "normal"):
                continue
            tests.append(Test(name, int(timeout) * (DEBUG_SLOWDOWN if debug else 1),
                              variant, argv, where, marks.get("xfail"),
                              marks.get("skip"), marks.get("leak", "-")))
    if not tests:
        sys.exit("%s: no tests" % path)
    return tests


def group_by_variant(tests):
    groups = []
    for t in tests:
        for g in groups:
            if g[0] == t.variant:
                g[1].append(t)
                break
        else:
            groups.append((t.variant, [t]))
    result = []
    for i, (variant, members) in enumerate(groups):
        name = "boot-log" if variant == "-" else "boot-log[%s]" % variant
        bootlog = Test(name, 10, variant, ["@bootlog"], "(every boot)")
        post = Test(name.replace("boot-log", "post-log"), 10, variant,
                    ["@postlog"], "(every boot)")
        result.append((i, variant, [bootlog] + members + [post]))
    return result


def stage_initramfs(arch, groups, shell=False):
    out = os.path.join(BUILD, arch)
    root = os.path.join(out, "initramfs.shell" if shell else "initramfs")
    selftests = os.path.join(out, "selftests")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "kvm"))
    for d in ("dev", "proc", "sys", "tmp", "bin"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    init = os.path.join(out, "init")
    if not os.path.exists(init):
        sys.exit("%s is missing; run 'make build ARCH=%s'" % (init, arch))
    shutil.copy2(init, os.path.join(root, "init"))

    strip = QEMU[arch]["strip"]
    wanted = set()
    for _, _, members in groups:
        for t in members:
            if not t.argv[0].startswith("@"):
                wanted.add(t.argv[0])
    if shell:
        # Everything that was built, for poking around by hand.
        for dirpath, _, files in os.walk(selftests):
            for fn in files:
                p = os.path.join(dirpath, fn)
                rel = os.path.relpath(p, selftests)
                if os.access(p, os.X_OK) and not fn.endswith((".o", ".a")):
                    wanted.add(rel)
    for rel in sorted(wanted):
        src = os.path.join(selftests, rel)
        dst = os.path.join(root, "kvm", rel)
        if not os.path.exists(src):
            print("warning: %s was not built; its tests will fail" % rel,
                  file=sys.stderr)
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([strip, "-o", dst, src], check=True)

    for i, _, members in groups:
        with open(os.path.join(root, "plan.%d" % i), "w") as f:
            for t in members:
                f.write("%s\t%d\t%s\t%s\n" % (t.name, t.timeout, t.leak,
                                              " ".join(t.argv)))

    if shell:
        bb = shutil.which("busybox") or "/bin/busybox"
        if not os.path.exists(bb):
            sys.exit("busybox is missing; 'apt-get install busybox-static'")
        shutil.copy2(bb, os.path.join(root, "bin", "busybox"))
        os.symlink("busybox", os.path.join(root, "bin", "sh"))
        with open(os.path.join(root, "shinit"), "w") as f:
            f.write("""#!/bin/sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null
export PATH=/kvm:/kvm/x86_64:/kvm/aarch64:/bin HOME=/tmp
cd /tmp
echo "KVM selftests are in /kvm. The plans are /plan.N; '/init' runs one"
echo "(ktest_plan=/plan.0 /init) and reboots. 'reboot -f' leaves QEMU."
exec setsid cttyhack sh
""")
        os.chmod(os.path.join(root, "shinit"), 0o755)

    cpio = root + ".cpio"
    files = subprocess.run("find . -print0 | LC_ALL=C sort -z", shell=True,
                           cwd=root, check=True,
                           stdout=subprocess.PIPE).stdout
    with open(cpio, "wb") as f:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet",
                        "--owner=0:0", "--reproducible"], cwd=root,
                       input=files, stdout=f, check=True)
    return cpio


# Extra devices a variant can ask for with 'dev=NAME'. edu gets a root port
# of its own: alone on the port's secondary bus, it can be reset with a
# secondary bus reset, the only reset vfio-pci has for it. hotplug=off: no
# pciehp on the port, so that the reset's link down is no hot-unplug. The
# same works on q35 and on arm64's virt, both PCIe machines.
DEVICES = {
    "edu": ["-device", "pcie-root-port,id=edu_rp,chassis=1,hotplug=off",
            "-device", "edu,bus=edu_rp"],
}


def qemu_cmd(arch, cpio, append, results=None, console=None, interactive=False,
             tcg="multi", cpu=None, machine=None, devices=(), mem="4G"):
    q = QEMU[arch]
    args = list(q["args"])
    if cpu:
        args[args.index("-cpu") + 1] = cpu
    if machine:
        args[args.index("-M") + 1] += "," + machine
    cmd = [q["binary"]] + args + [
        "-smp", "2", "-m", mem, "-accel", "tcg,thread=" + tcg,
        "-nodefaults", "-no-reboot", "-display", "none",
        "-kernel", os.path.join(BUILD, arch, "kernel.img"),
        "-initrd", cpio, "-append", append,
    ]
    if interactive:
        cmd += ["-serial", "mon:stdio"]
    else:
        cmd += ["-serial", "file:" + console, "-monitor", "none"]
        cmd += ["-device", "virtio-serial-pci",
                "-chardev", "file,id=results,path=" + results,
                "-device", "virtconsole,chardev=results"]
    # Last, so that the other devices keep their PCI addresses.
    for dev in devices:
        cmd += DEVICES[dev]
    return cmd


def boot(arch, idx, variant, members, cpio, settings, debug=False):
    base = os.path.join(LOGS, "%s-boot%d" % (arch, idx))
    console, results = base + ".console", base + ".tap"
    for p in (console, results):
        if os.path.exists(p):
            os.unlink(p)
    params = [] if variant == "-" else variant.split(",")
    tcg = "multi"
    if "tcg=single" in params:
        params.remove("tcg=single")
        tcg = "single"
    cpu = machine = None
    devices = []
    mem = "4G"
    for p in list(params):
        if p.startswith("qemu_mem="):
            mem = p[len("qemu_mem="):]
            params.remove(p)
        elif p.startswith("cpu="):
            cpu = p[len("cpu="):]
            params.remove(p)
        elif p.startswith("machine="):
            machine = p[len("machine="):]
            params.remove(p)
        elif p.startswith("dev="):
            devices.append(p[len("dev="):])
            params.remove(p)
    leak = settings.get("leak-debug" if debug else "leak", settings.get("leak"))
    append = " ".join(["console=" + QEMU[arch]["console"], "panic=-1",
                       "log_buf_len=8M", "ktest_plan=/plan.%d" % idx] +
                      (["ktest_leak=" + leak] if leak else []) +
                      params)
    cmd = qemu_cmd(arch, cpio, append, results, console, tcg=tcg, cpu=cpu,
                   machine=machine, devices=devices, mem=mem)
    with open(base + ".cmd", "w") as f:
        f.write(" ".join("'%s'" % c if " " in c else c for c in cmd) + "\n")

    limit = (QEMU[arch]["boot_margin"] * (DEBUG_SLOWDOWN if debug else 1) +
             sum(t.timeout for t in members))
    say("run %s: boot %d%s, %d test(s), limit %ds (console: %s)" % (
        arch, idx, "" if variant == "-" else " [%s]" % variant,
        len(members), limit, os.path.relpath(console, TOP)))
    start = time.time()
    xfail = {t.name for t in members if t.xfail}
    with open(base + ".qemu", "w") as qlog:
        proc = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        shown = 0
        killed = False
        while True:
            try:
                proc.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                pass
            shown = show_progress(arch, results, shown, xfail)
            if time.time() - start > limit:
                proc.kill()
                proc.wait()
                killed = True
                break
        show_progress(arch, results, shown, xfail)
    return parse_results(arch, members, results, console, killed, limit,
                         proc.returncode, time.time() - start)


def show_progress(arch, results, shown, xfail=()):
    if not os.path.exists(results):
        return shown
    with open(results, errors="replace") as f:
        lines = f.read().split("\n")[:-1]
    for line in lines[shown:]:
        m = RESULT_RE.match(line)
        if m:
            say("  %s %s %s" % (arch, ("fail (xfail?)" if m.group(3) in xfail
                                      else "FAIL") if m.group(1) else
                               ("SKIP" if (m.group(4) or "").startswith("SKIP")
                                else "ok  "), m.group(3)))
    return len(lines)


def parse_results(arch, members, results, console, killed, limit, rc, secs):
    by_name = {t.name: t for t in members}
    lines = []
    if os.path.exists(results):
        with open(results, errors="replace") as f:
            lines = f.read().split("\n")
    started = any(l.startswith("KTAP version") for l in lines)
    finished = any(l.startswith("# ktest: done") for l in lines)
    diag = []
    for line in lines:
        if line.startswith("# "):
            if line.startswith("# ktest: start "):
                diag = []
            else:
                diag.append(line[2:])
            continue
        m = RESULT_RE.match(line)
        if not m or m.group(3) not in by_name:
            continue
        t = by_name[m.group(3)]
        directive = m.group(4) or ""
        tm = re.search(r"time=([0-9.]+)s", directive)
        t.time = float(tm.group(1)) if tm else None
        directive = re.sub(r"\s*time=[0-9.]+s", "", directive).strip()
        if m.group(1):
            t.status, t.detail = "FAIL", directive or "failed"
        elif directive.startswith("SKIP"):
            t.status, t.detail = "SKIP", directive[4:].strip() or "skipped"
        else:
            t.status, t.detail = "PASS", ""
        t.log = diag
        diag = []

    why = None
    if not started:
        why = "the kernel did not reach the test runner"
    elif not finished:
        why = "the test runner did not finish"
    if killed:
        why = (why or "") + " (QEMU killed after %ds)" % limit
    if why:
        for t in members:
            if t.status is None:
                t.status, t.detail = "FAIL", "did not run: " + why
        say("run %s: %s; last lines of %s:" % (arch, why,
                                               os.path.relpath(console, TOP)))
        lines = []
        if os.path.exists(console):
            with open(console, errors="replace") as f:
                lines = f.read().splitlines()
        key = [l for l in lines if re.search(
            r"Kernel panic|BUG:|Oops|Unable to handle|WARNING:|Internal error", l)]
        for line in key[:8]:
            print("    ! " + line)
        for line in lines[-30:]:
            print("    | " + line)
    for t in members:
        if t.status is None:
            t.status, t.detail = "FAIL", "did not run"
        elif t.xfail and t.status == "FAIL":
            splat = any(l.startswith("kernel: ") for l in t.log)
            if (re.fullmatch(r"exit code \d+", t.detail) and not splat and
                    re.search(t.xfail, "\n".join(t.log), re.S)):
                t.status = "XFAIL"
                t.detail = "known failure (%s): %s" % (t.where, t.detail)
        elif t.status == "SKIP":
            if not (t.skip and re.search(t.skip, "\n".join(t.log), re.S)):
                t.status = "FAIL"
                t.detail = ("skipped (%s), and the plan does not allow it "
                            "(skip=REGEX)" % t.detail)
        elif t.xfail and t.status == "PASS":
            t.status = "FAIL"
            t.detail = "XPASS: marked xfail in %s but passed; update the plan" % t.where
    say("run %s: boot finished in %ds (qemu exit %s)" % (arch, secs, rc))
    return members


def report(arch, tests):
    width = max(len(t.name) for t in tests)
    print()
    print("== %s results (logs: build/logs/%s-boot*.tap, *.console)" % (arch, arch))
    for t in tests:
        tm = "%6.1fs" % t.time if t.time is not None else "      -"
        print("  %-5s %-*s %s  %s" % (t.status, width, t.name, tm, t.detail))
    for t in tests:
        if t.status in ("FAIL", "XFAIL") and t.log:
            print("\n-- %s (%s): last lines of its output" % (t.name, t.where))
            for line in t.log[-20:]:
                print("    | " + line)
    p = sum(t.status == "PASS" for t in tests)
    f = sum(t.status == "FAIL" for t in tests)
    s = sum(t.status in ("SKIP", "XFAIL") for t in tests)
    print("\n%s: %d passed, %d failed, %d skipped" % (arch, p, f, s))
    return p, f, s


# The x86 guest could not calibrate its TSC: every KVM selftest then fails
# in KVM_GET_TSC_KHZ. configs/x86_64.config gives the guest ACPI's HPET and
# PM timer as references, so this should not happen; if it does, say so on
# the boot-log line instead of leaving 30 unexplained failures.
TSC_FAIL = "tsc: Marking TSC unstable due to could not calculate TSC khz"


def check_tsc(arch, idx, members):
    console = os.path.join(LOGS, "%s-boot%d.console" % (arch, idx))
    if arch != "x86_64" or not os.path.exists(console):
        return
    with open(console, errors="replace") as f:
        lines = [l.rstrip("\n") for l in f if "tsc: " in l]
    if not any(TSC_FAIL in l for l in lines):
        return
    say("run %s: boot %d: the guest could not calibrate its TSC (%s)" % (
        arch, idx, os.path.relpath(console, TOP)))
    for line in lines:
        print("    | " + line)
    t = members[0]      # boot-log
    why = "guest TSC calibration failed: every KVM test fails"
    t.detail = why if t.status == "PASS" else "%s; %s" % (t.detail, why)
    t.status = "FAIL"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch", choices=sorted(QEMU))
    ap.add_argument("--plan")
    ap.add_argument("--shell", action="store_true")
    ap.add_argument("--summary", help="write 'PASSED FAILED SKIPPED' here")
    ap.add_argument("--count", action="store_true",
                    help="print how many results the plan expects")
    ap.add_argument("--debug", action="store_true",
                    help="debug kernels: only=debug tests, timeouts x%d" %
                    DEBUG_SLOWDOWN)
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="boot every variant N times (flake hunting); "
                    "each boot's results count")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    arch = args.arch
    plan = args.plan or os.path.join(TOP, "tests", "plan." + arch)
    os.makedirs(LOGS, exist_ok=True)

    settings = {}
    tests = parse_plan(plan, args.debug, settings)
    groups = group_by_variant(tests)
    if args.count:
        print(sum(len(m) for _, _, m in groups))
        return 0
    if args.shell:
        cpio = stage_initramfs(arch, groups, shell=True)
        append = "console=%s panic=-1 rdinit=/shinit" % QEMU[arch]["console"]
        cmd = qemu_cmd(arch, cpio, append, interactive=True)
        print("Booting %s; leave with 'reboot -f' or Ctrl-A x" % arch)
        os.execvp(cmd[0], cmd)

    cpio = stage_initramfs(arch, groups)
    for old in glob.glob(os.path.join(LOGS, "%s-boot*.rep*" % arch)):
        os.unlink(old)
    done = []
    for rep in range(1, args.repeat + 1):
        if args.repeat > 1:
            say("run %s: repetition %d of %d" % (arch, rep, args.repeat))
            groups = group_by_variant(parse_plan(plan, args.debug))
        for idx, variant, members in groups:
            results = boot(arch, idx, variant, members, cpio, settings,
                           args.debug)
            check_tsc(arch, idx, results)
            if args.repeat > 1:
                # Keep every boot's logs, and name its results apart.
                base = os.path.join(LOGS, "%s-boot%d" % (arch, idx))
                for ext in (".console", ".tap"):
                    if os.path.exists(base + ext):
                        shutil.copy2(base + ext, "%s.rep%d%s" % (base, rep, ext))
                for t in results:
                    t.name = "%s#%d" % (t.name, rep)
            done += results
    p, f, s = report(arch, done)
    summary = args.summary or os.path.join(BUILD, arch, "summary")
    with open(summary, "w") as fh:
        fh.write("%d %d %d\n" % (p, f, s))
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
