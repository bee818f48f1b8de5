#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the TAP logs written by compare.sh.

Usage: compare_report.py DIR ARCH...

For each arch: the pfnmap_test result on the base and the series (the base
must fail, the series must pass), and for each benchmark the median over all
repetitions and rounds and the series/base throughput ratio.  Exits non-zero
if pfnmap_test does not fail on the base and pass on the series, or a ratio
is below 0.98.

guest_memfd_fault_bench (the series' binary, run on both kernels) is
informational: the series/base ratio of its mode= line (the 4K population
both kernels can do: private4k on x86, anon4k on arm64), and the series'
lines that the base cannot run (folio=4K/2M/1G, convert, footprint=), with
the median time over all runs.  It never fails the comparison.
"""
import glob
import os
import re
import statistics
import sys

MIN_RATIO = 0.98
# name -> (regex over the test's output, higher_is_better)
METRICS = {
    "demand_paging": (r"Overall demand paging rate:\s+([0-9.]+) pgs/sec", True),
    "kvm_page_table": (r"KVM_CREATE_MAPPINGS: total execution time: ([0-9.]+)s", False),
}


BENCH = "guest_memfd_fault_bench"
BENCH_RE = re.compile(r"\bgmem_fault_bench ((?:mode|folio|footprint)=\S+|convert)\b(.*)$")


def bench_line(line):
    """Return (kind, {key: value}, text) of a gmem_fault_bench line, or None.

    kind is its first word: 'mode=private4k', 'folio=2M', 'convert'...
    """
    m = BENCH_RE.search(line)
    if not m:
        return None
    kv = dict(t.split("=", 1) for t in m.group(2).split() if "=" in t)
    text = line[m.start():].rstrip()
    return m.group(1), kv, text


def parse(path, bench=None):
    """Return ({test: 'ok'|'not ok'|...}, {metric: [values]}).

    With a dict as bench, also append each gmem_fault_bench line to
    bench[kind], as (key/value dict, text).
    """
    results, values = {}, {m: [] for m in METRICS}
    with open(path, errors="replace") as f:
        for line in f:
            if bench is not None:
                b = bench_line(line)
                if b:
                    bench.setdefault(b[0], []).append((b[1], b[2]))
                    continue
            m = re.match(r"^(ok|not ok) \d+ (\S+)(.*)$", line)
            if m:
                status = m.group(1)
                if "# SKIP" in m.group(3):
                    status = "skip"
                elif "# XFAIL" in m.group(3):
                    status = "xfail"
                results[m.group(2)] = status
                continue
            for name, (rx, _) in METRICS.items():
                mm = re.search(rx, line)
                if mm:
                    values[name].append(float(mm.group(1)))
    return results, values


def main():
    out, arches = sys.argv[1], sys.argv[2:]
    bad = 0
    for arch in arches:
        print("== %s" % arch)
        agg = {}
        bench = {"base": {}, "series": {}}
        bench_res = {"base": [], "series": []}
        for which in ("base", "series"):
            res_all, vals_all = [], {m: [] for m in METRICS}
            for p in sorted(glob.glob(os.path.join(out, "%s-%s-*.tap" % (arch, which)))):
                res, vals = parse(p, bench[which])
                res_all.append(res.get("pfnmap_test", "missing"))
                bench_res[which] += [r for t, r in sorted(res.items())
                                     if t.startswith("perf/" + BENCH)]
                for m in METRICS:
                    vals_all[m] += vals[m]
            agg[which] = (res_all, vals_all)
            print("  pfnmap_test on %-6s: %s" % (which, ", ".join(res_all) or "no run"))
        newtests = os.path.join(out, "%s-newtests-on-base.tap" % arch)
        if os.path.exists(newtests):
            res, _ = parse(newtests)
            for t, r in sorted(res.items()):
                if t.startswith(("boot-log", "post-log")):
                    continue
                print("  series' %-32s on the base: %s" % (t, r))
                # A kselftest skips when the kernel lacks its capability.
                if r not in ("not ok", "skip"):
                    print("  FAIL: %s must fail or skip on the base" % t)
                    bad += 1
        base_res, series_res = agg["base"][0], agg["series"][0]
        if not base_res or any(r != "not ok" for r in base_res):
            print("  FAIL: pfnmap_test must fail on the base")
            bad += 1
        if not series_res or any(r != "ok" for r in series_res):
            print("  FAIL: pfnmap_test must pass with the series")
            bad += 1
        for m, (_, higher) in METRICS.items():
            b, s = agg["base"][1][m], agg["series"][1][m]
            if not b or not s:
                print("  %s: no numbers (base %d, series %d)" % (m, len(b), len(s)))
                bad += 1
                continue
            mb, ms = statistics.median(b), statistics.median(s)
            # Under TCG a boot sometimes runs at about half speed for a
            # while (host contention); such samples move the median when
            # they pile up on one side.  Show how many there are.
            for which, v in (("base", b), ("series", s)):
                if len(v) < 2:
                    continue
                q = statistics.quantiles(v, n=10)
                fast = q[-1] if higher else q[0]
                slow = [x for x in v if (x < 0.75 * fast if higher else x > fast / 0.75)]
                if slow:
                    print("  %-15s %s: %d of %d samples at < 75%% of the fast ones "
                          "(likely host contention)" % (m, which, len(slow), len(v)))
            ratio = ms / mb if higher else mb / ms
            unit = "pgs/s" if higher else "s"
            print("  %-15s base median %.4g %s (n=%d), series median %.4g %s (n=%d): "
                  "series/base throughput %.3f%s" %
                  (m, mb, unit, len(b), ms, unit, len(s), ratio,
                   "" if ratio >= MIN_RATIO else "  < %.2f: FAIL" % MIN_RATIO))
            if ratio < MIN_RATIO:
                bad += 1
        bench_report(bench, bench_res)
    sys.exit(1 if bad else 0)


def times(lines):
    return [float(kv["time_ms"]) for kv, _ in lines if "time_ms" in kv]


def bench_report(bench, bench_res):
    """Print guest_memfd_fault_bench's comparison; informational only."""
    for which in ("base", "series"):
        r = bench_res[which]
        if r:
            print("  %s on %-6s: %d of %d runs ok%s" % (
                BENCH, which, r.count("ok"), len(r),
                "" if r.count("ok") == len(r) else " (informational)"))
    modes = sorted(k for k in set(bench["base"]) | set(bench["series"])
                   if k.startswith("mode="))
    if not modes:
        print("  %s: no mode= lines (informational)" % BENCH)
    for k in modes:
        b, s = times(bench["base"].get(k, [])), times(bench["series"].get(k, []))
        if not b or not s:
            print("  gmem %-15s no numbers (base %d, series %d; informational)"
                  % (k, len(b), len(s)))
            continue
        mb, ms = statistics.median(b), statistics.median(s)
        faults = {}
        for which in ("base", "series"):
            f = sorted({kv.get("faults", "?") for kv, _ in bench[which][k]})
            faults[which] = "/".join(f)
        print("  gmem %-15s base median %.1f ms (n=%d, faults %s), series median "
              "%.1f ms (n=%d, faults %s): series/base throughput %.3f "
              "(informational)" % (k, mb, len(b), faults["base"], ms, len(s),
                                   faults["series"], mb / ms))
    # What only the series runs, as the series printed it the first time,
    # in the bench's order, with the median time over every run; and the
    # base's dual backing.
    for k in (k for k in bench["series"] if not k.startswith("mode=")):
        lines = bench["series"][k]
        t = times(lines)
        print("  series: %s%s" % (lines[0][1], "  [median time_ms %.1f, n=%d]"
                                  % (statistics.median(t), len(t)) if len(t) > 1 else ""))
    for k in (k for k in bench["base"] if k.startswith("footprint=")):
        if "ratio" in bench["base"][k][0][0]:
            print("  base:   %s" % bench["base"][k][0][1])


if __name__ == "__main__":
    main()
