// SPDX-License-Identifier: GPL-2.0
/*
 * In-guest test runner, PID 1 of the test initramfs.
 *
 * Reads a plan (path from the "ktest_plan" environment variable, which the
 * kernel passes from the command line; default /plan), runs each entry with
 * its own timeout and reports KTAP on the console and, when present, on the
 * virtio console /dev/hvc0 that the host reads the results from. Output of
 * the tests is kept as "# " diagnostic lines. Kernel log lines that look like
 * a splat (WARNING, BUG, lockdep, KASAN...) while a test runs fail that test.
 *
 * Plan lines: NAME <TAB> TIMEOUT_SECONDS <TAB> LEAK <TAB> COMMAND [ARGS...]
 * COMMAND is a program relative to /kvm, or one of the built-ins:
 *   @bootlog          the kernel log up to init has no splat
 *   @postlog          the kernel log after the last test has no splat
 *   @kunit SUITE      result of a built-in KUnit suite printed at boot
 *
 * The kernel log is scanned without gaps: each test is charged with every
 * line logged since the previous test's check, so splats during a test's
 * teardown count against it.
 *
 * Leak accounting: after every program, the runner lets the kernel settle
 * (sync, drop_caches, compact_memory, which drains the per-CPU LRU batches,
 * and a shrink of every slab cache, which flushes the per-CPU slabs) and
 * takes a snapshot of
 *   - free memory: MemFree plus the pages on the per-CPU free lists
 *     (/proc/zoneinfo), which MemFree does not count, plus HardwareCorrupted
 *     (tests that inject memory failures lose those pages for good);
 *   - free_hugepages and resv_hugepages of every hugetlb size;
 *   - active objects of KVM's slab caches;
 *   - the pages that the test driver test_pfnmap holds
 *     (/sys/kernel/debug/test_pfnmap/pages).
 * It compares the snapshot with the one before the test (the previous
 * test's). Growth beyond the tolerance fails the test, after waiting up to
 * 30 seconds for deferred frees (RCU, kfree_rcu() batches) to land. Where
 * free memory went is printed from /proc/meminfo. The tolerances come from
 * the kernel command line, "ktest_leak=memfree_kb:N,slab:N" (the plan's
 * "set leak" line, see scripts/run.py); hugetlb and test_pfnmap pages must
 * not grow at all. The plan's LEAK field is "-" for those, "off" for no
 * check, or the same syntax to override them for one test.
 *
 * Built statically, with no dependency beyond libc, for every arch.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#define MAX_TESTS	256
#define MAX_ARGS	64
#define LINE_MAX_LEN	4096
#define KLOG_MAX	(4 << 20)

struct leak_tolerance {
	bool off;
	long memfree_kb;
	long slab;
};

struct test {
	char *name;
	int timeout;
	struct leak_tolerance leak;
	char *argv[MAX_ARGS + 1];
};

static struct test tests[MAX_TESTS];
static int nr_tests;
static int out_fds[2] = { -1, -1 };
static int kmsg_fd = -1;

/* Kernel log text gathered so far (boot log, then per test). */
static char *klog;
static size_t klog_len;
static size_t klog_scanned;	/* checked for splats up to here */
static bool klog_truncated;	/* records were dropped: the log is incomplete */

static void out_write(const char *buf, size_t len)
{
	for (int i = 0; i < 2; i++) {
		const char *p = buf;
		size_t left = len;

		if (out_fds[i] < 0)
			continue;
		while (left) {
			ssize_t n = write(out_fds[i], p, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			p += n;
			left -= n;
		}
	}
}

static void __attribute__((format(printf, 1, 2))) out(const char *fmt, ...)
{
	char buf[LINE_MAX_LEN + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	out_write(buf, n);
}

/* Print text as "# " diagnostic lines. */
static void out_diag(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		out("# %.*s\n", (int)(n > LINE_MAX_LEN ? LINE_MAX_LEN : n), p);
		p += n + (nl ? 1 : 0);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void do_mount(const char *src, const char *dst, const char *type,
		     const char *opts, bool quiet)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, 0, opts) && !quiet)
		out("# ktest: mount %s on %s: %s\n", type, dst, strerror(errno));
}

static void setup_system(void)
{
	int fd;

	do_mount("devtmpfs", "/dev", "devtmpfs", NULL, false);
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	out_fds[0] = 1;
	out_fds[1] = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	do_mount("proc", "/proc", "proc", NULL, false);
	do_mount("sysfs", "/sys", "sysfs", NULL, false);
	do_mount("tmpfs", "/tmp", "tmpfs", "mode=1777", false);
	do_mount("debugfs", "/sys/kernel/debug", "debugfs", NULL, true);
	/* Not every config has hugetlbfs; tests that need it will say so. */
	do_mount("hugetlbfs", "/dev/hugepages", "hugetlbfs", NULL, true);

	setenv("PATH", "/kvm:/bin", 1);
	setenv("HOME", "/tmp", 1);
	if (chdir("/tmp"))
		out("# ktest: chdir /tmp: %s\n", strerror(errno));
}

/* Append everything new in /dev/kmsg to klog; returns the offset it started at. */
static size_t klog_read(void)
{
	static char rec[8192];
	size_t start = klog_len;

	if (kmsg_fd < 0)
		return start;
	for (;;) {
		ssize_t n = read(kmsg_fd, rec, sizeof(rec) - 1);
		char *msg, *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {	/* overwritten before we read them */
			klog_truncated = true;
			continue;
		}
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* "prio,seq,usec,flags;text\n" followed by " KEY=value" lines */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		n = strlen(msg);
		if (klog_len + n + 2 > KLOG_MAX) {
			klog_truncated = true;
			continue;
		}
		memcpy(klog + klog_len, msg, n);
		klog_len += n;
		klog[klog_len++] = '\n';
		klog[klog_len] = '\0';
	}
	return start;
}

static const char *const splats[] = {
	"WARNING:", "BUG:", "Oops", "kernel BUG at", "general protection fault",
	"Unable to handle kernel", "Internal error:", "UBSAN:", "KASAN:",
	"possible circular locking", "possible recursive locking",
	"inconsistent lock state", "suspicious RCU usage",
	"INFO: task", "rcu_sched self-detected stall", "detected stall",
	"Kernel panic", "kmemleak:",
	/* Also reported with WARNING:/BUG:, but named in case they are not. */
	"refcount_t:", "Bad page state", "hung_task",
};

/* Print splat lines of klog[from..] as diagnostics; return how many. */
static int report_splats(size_t from)
{
	char *p = klog + from, *end = klog + klog_len;
	int found = 0;

	while (p < end) {
		char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		for (size_t i = 0; i < sizeof(splats) / sizeof(splats[0]); i++) {
			if (memmem(p, n, splats[i], strlen(splats[i]))) {
				out("# kernel: %.*s\n", (int)n, p);
				found++;
				break;
			}
		}
		p += n + 1;
	}
	return found;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Leak accounting, see the comment at the top. */
static struct leak_tolerance default_tolerance = { .memfree_kb = 4096, .slab = 0 };

/* "-", "off" or "memfree_kb:N,slab:N" (either key may be left out) */
static int parse_tolerance(const char *spec, struct leak_tolerance *tol)
{
	char buf[128], *save = NULL, *item;

	if (!strcmp(spec, "-"))
		return 0;
	if (!strcmp(spec, "off")) {
		tol->off = true;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':'), *end;
		long v;

		if (!colon)
			return -1;
		*colon = '\0';
		v = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || v < 0)
			return -1;
		if (!strcmp(item, "memfree_kb"))
			tol->memfree_kb = v;
		else if (!strcmp(item, "slab"))
			tol->slab = v;
		else
			return -1;
	}
	return 0;
}

#define MAX_HSTATES	4
#define MAX_CACHES	8

/* Slab caches whose objects a test must give back. */
static const char *const leak_caches[] = {
	"kvm_vcpu", "kvm_mmu_page_header", "x86_emulator", "pte_list_desc",
	"kvm_async_pf",
};

/* Where memory went, printed with every free memory change the check reports. */
static const char *const meminfo_fields[] = {
	"Slab", "SUnreclaim", "KernelStack", "PageTables", "VmallocUsed",
	"Percpu", "SecPageTables", "AnonPages", "Shmem", "Unevictable",
	"Mlocked", "Mapped", "Cached", "Buffers",
};

#define NR_MEMINFO	(sizeof(meminfo_fields) / sizeof(meminfo_fields[0]))

struct snapshot {
	long free_kb;			/* MemFree + per-CPU free lists */
	long depot_kb;			/* stack depot pools, in free_kb */
	int nr_hstates;
	char hstate[MAX_HSTATES][32];
	long hp_free[MAX_HSTATES], hp_rsvd[MAX_HSTATES];
	long slab[MAX_CACHES];		/* -1: no such cache */
	long pfnmap_pages;		/* -1: no test_pfnmap */
	long meminfo[NR_MEMINFO];	/* kB */
};

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* Best effort: e.g. no compaction in this config. */
	if (write(fd, val, strlen(val)) < 0) {
		close(fd);
		return;
	}
	close(fd);
}

static long read_long(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Let the kernel give back what it caches, so that the snapshot is exact. */
static void settle(void)
{
	char path[512];
	struct dirent *d;
	DIR *dir;

	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	/* lru_add_drain_all(): folio batches hold references. */
	write_file("/proc/sys/vm/compact_memory", "1");
	dir = opendir("/sys/kernel/slab");
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", d->d_name);
		write_file(path, "1");
	}
	closedir(dir);
}

static void take_snapshot(struct snapshot *snap)
{
	char line[512], name[64];
	long pages = 0, v, page_kb = sysconf(_SC_PAGESIZE) / 1024;
	struct dirent *d;
	FILE *f;
	DIR *dir;

	memset(snap, 0, sizeof(*snap));
	for (int i = 0; i < MAX_CACHES; i++)
		snap->slab[i] = -1;

	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemFree: %ld kB", &v) == 1 ||
		    /* memory_failure() takes poisoned pages out for good */
		    sscanf(line, "HardwareCorrupted: %ld kB", &v) == 1)
			snap->free_kb += v;
		if (sscanf(line, "%63[^:]: %ld kB", name, &v) != 2)
			continue;
		for (size_t i = 0; i < NR_MEMINFO; i++)
			if (!strcmp(name, meminfo_fields[i]))
				snap->meminfo[i] = v;
	}
	if (f)
		fclose(f);
	/* "    cpu: N\n              count: N" in every zone's pagesets */
	f = fopen("/proc/zoneinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	if (f)
		fclose(f);
	snap->free_kb += pages * page_kb;

	dir = opendir("/sys/kernel/mm/hugepages");
	while (dir && (d = readdir(dir)) && snap->nr_hstates < MAX_HSTATES) {
		char path[512];
		int i = snap->nr_hstates;

		if (strncmp(d->d_name, "hugepages-", 10))
			continue;
		snprintf(snap->hstate[i], sizeof(snap->hstate[i]), "%s", d->d_name + 10);
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/free_hugepages",
			 d->d_name);
		snap->hp_free[i] = read_long(path);
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/resv_hugepages",
			 d->d_name);
		snap->hp_rsvd[i] = read_long(path);
		snap->nr_hstates++;
	}
	if (dir)
		closedir(dir);

	/* "name active_objs num_objs ..." */
	f = fopen("/proc/slabinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld", name, &v) != 2)
			continue;
		for (size_t i = 0; i < sizeof(leak_caches) / sizeof(leak_caches[0]); i++)
			if (!strcmp(name, leak_caches[i]))
				snap->slab[i] = v;
	}
	if (f)
		fclose(f);

	snap->pfnmap_pages = read_long("/sys/kernel/debug/test_pfnmap/pages");

	/*
	 * KASAN (and page_owner) record the stack of every allocation and
	 * free in the stack depot, whose pools of 4 pages are never freed:
	 * a test that reaches code paths not seen before grows it for good
	 * (by 16-32 kB for the long fuzzer on a debug kernel). That is not
	 * the test's memory; count it as free.
	 */
	f = fopen("/sys/kernel/debug/stackdepot/stats", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "pools: %ld", &v) == 1)
			snap->depot_kb = v * 4 * page_kb;
	if (f)
		fclose(f);
	snap->free_kb += snap->depot_kb;

	/*
	 * The runner's own anonymous memory is not the test's either:
	 * khugepaged may collapse a range of it into a huge page, filling in
	 * pages that were never touched (seen once: AnonPages +1992 kB).
	 */
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &v) == 1)
			snap->free_kb += v;
	if (f)
		fclose(f);
}

/*
 * Describe in @why what grew from @a to @b beyond @tol; return true if
 * anything did. Everything that changed is printed as a diagnostic.
 */
static bool leak_report(const struct snapshot *a, const struct snapshot *b,
			const struct leak_tolerance *tol, char *why, size_t whylen,
			bool quiet)
{
	size_t l = 0;
	bool leak = false;

#define LEAK(fmt, ...) do {						\
		leak = true;						\
		if (l < whylen)						\
			l += snprintf(why + l, whylen - l, "%s" fmt,	\
				      l ? ", " : "", ##__VA_ARGS__);	\
	} while (0)

	if (!quiet) {
		char buf[512];
		size_t n = 0;

		for (size_t i = 0; i < NR_MEMINFO && n < sizeof(buf); i++)
			if (labs(b->meminfo[i] - a->meminfo[i]) >= 64)
				n += snprintf(buf + n, sizeof(buf) - n, " %s %+ld",
					      meminfo_fields[i],
					      b->meminfo[i] - a->meminfo[i]);
		if (b->depot_kb != a->depot_kb && n < sizeof(buf))
			n += snprintf(buf + n, sizeof(buf) - n, " stackdepot %+ld",
				      b->depot_kb - a->depot_kb);
		out("# ktest: leak check: free memory %+ld kB (tolerance %ld kB)%s%s\n",
		    b->free_kb - a->free_kb, tol->memfree_kb,
		    n ? "; meminfo kB:" : "", n ? buf : "");
	}
	if (a->free_kb - b->free_kb > tol->memfree_kb)
		LEAK("free memory -%ld kB", a->free_kb - b->free_kb);
	for (int i = 0; i < a->nr_hstates && i < b->nr_hstates; i++) {
		if (b->hp_free[i] != a->hp_free[i] || b->hp_rsvd[i] != a->hp_rsvd[i]) {
			if (!quiet)
				out("# ktest: leak check: hugepages-%s free %+ld, reserved %+ld\n",
				    a->hstate[i], b->hp_free[i] - a->hp_free[i],
				    b->hp_rsvd[i] - a->hp_rsvd[i]);
			if (b->hp_free[i] < a->hp_free[i] || b->hp_rsvd[i] > a->hp_rsvd[i])
				LEAK("hugepages-%s free %+ld reserved %+ld", a->hstate[i],
				     b->hp_free[i] - a->hp_free[i],
				     b->hp_rsvd[i] - a->hp_rsvd[i]);
		}
	}
	for (size_t i = 0; i < sizeof(leak_caches) / sizeof(leak_caches[0]); i++) {
		long d = b->slab[i] - a->slab[i];

		if (a->slab[i] < 0 || b->slab[i] < 0 || !d)
			continue;
		if (!quiet)
			out("# ktest: leak check: slab %s %+ld objects (tolerance %ld)\n",
			    leak_caches[i], d, tol->slab);
		if (d > tol->slab)
			LEAK("%s %+ld objects", leak_caches[i], d);
	}
	if (a->pfnmap_pages >= 0 && b->pfnmap_pages != a->pfnmap_pages) {
		if (!quiet)
			out("# ktest: leak check: test_pfnmap pages %+ld\n",
			    b->pfnmap_pages - a->pfnmap_pages);
		if (b->pfnmap_pages > a->pfnmap_pages)
			LEAK("test_pfnmap pages %+ld", b->pfnmap_pages - a->pfnmap_pages);
	}
#undef LEAK
	return leak;
}

/* The snapshot after the previous test, the baseline of the next one. */
static struct snapshot baseline;
static bool have_baseline;

/*
 * Check the test that just ran for leaks against the baseline, and make the
 * state after it the next baseline. Deferred frees (RCU callbacks, e.g. of
 * TDP MMU page tables and inodes) may land a moment after the test exits,
 * so retry for up to @wait seconds before calling growth a leak.
 */
static bool leak_check(const struct test *t, char *why, size_t whylen, double wait)
{
	double deadline = now() + wait;
	struct snapshot snap;
	bool leak;

	for (;;) {
		settle();
		take_snapshot(&snap);
		if (!have_baseline || t->leak.off) {
			leak = false;
			break;
		}
		leak = leak_report(&baseline, &snap, &t->leak, why, whylen, true);
		if (!leak || now() >= deadline)
			break;
		usleep(250000);
	}
	if (have_baseline && !t->leak.off)
		leak_report(&baseline, &snap, &t->leak, why, whylen, false);
	baseline = snap;
	have_baseline = true;
	return leak;
}

static int load_plan(const char *path)
{
	char line[LINE_MAX_LEN];
	FILE *f = fopen(path, "r");
	int lineno = 0;

	if (!f) {
		out("# ktest: cannot open plan %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *name, *tmo, *leak, *cmd, *save = NULL, *arg;
		struct test *t;
		int argc = 0;

		lineno++;
		if (!*s || *s == '#')
			continue;
		name = strtok_r(s, "\t", &save);
		tmo = strtok_r(NULL, "\t", &save);
		leak = strtok_r(NULL, "\t", &save);
		cmd = strtok_r(NULL, "\t", &save);
		if (!name || !tmo || !leak || !cmd || nr_tests == MAX_TESTS) {
			out("# ktest: %s:%d: bad plan line\n", path, lineno);
			fclose(f);
			return -1;
		}
		t = &tests[nr_tests++];
		t->name = strdup(name);
		t->timeout = atoi(tmo);
		t->leak = default_tolerance;
		if (parse_tolerance(leak, &t->leak)) {
			out("# ktest: %s:%d: bad leak tolerance '%s'\n", path,
			    lineno, leak);
			fclose(f);
			return -1;
		}
		for (arg = strtok_r(cmd, " ", &save); arg && argc < MAX_ARGS;
		     arg = strtok_r(NULL, " ", &save))
			t->argv[argc++] = strdup(arg);
		t->argv[argc] = NULL;
	}
	fclose(f);
	return 0;
}

/* Result of a top-level KUnit suite in the boot log: 1 ok, 0 not ok, -1 absent. */
static int kunit_result(const char *suite, bool *skipped)
{
	char *p = klog, *end = klog + klog_len;
	int result = -1;

	while (p < end) {
		char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char buf[512], name[256];
		int num, ok;

		if (n < sizeof(buf)) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			ok = -1;
			if (sscanf(buf, "ok %d %255s", &num, name) == 2)
				ok = 1;
			else if (sscanf(buf, "not ok %d %255s", &num, name) == 2)
				ok = 0;
			if (ok >= 0 && !strcmp(name, suite)) {
				result = ok;
				*skipped = strstr(buf, "# SKIP") != NULL;
			}
		}
		p += n + 1;
	}
	return result;
}

/* Print the KUnit log of one suite (from its "# Subtest:" line to its result). */
static void kunit_log(const char *suite)
{
	char key[300];
	char *start, *stop;

	snprintf(key, sizeof(key), "# Subtest: %s\n", suite);
	start = strstr(klog, key);
	if (!start)
		return;
	stop = start;
	for (char *p = start; (p = strchr(p, '\n')); p++) {
		stop = p + 1;
		if (!isspace((unsigned char)p[1]) && strstr(p + 1, suite) &&
		    (!strncmp(p + 1, "ok ", 3) || !strncmp(p + 1, "not ok ", 7))) {
			char *e = strchr(p + 1, '\n');

			stop = e ? e + 1 : klog + klog_len;
			break;
		}
	}
	out_diag(start, stop - start);
}

enum result { PASS, FAIL, SKIP };

static enum result run_program(struct test *t, char *why, size_t whylen)
{
	char path[512], buf[4096];
	double deadline = now() + (t->timeout > 0 ? t->timeout : 3600);
	int pipefd[2], status = 0;
	bool timed_out = false;
	size_t pending = 0;
	char line[LINE_MAX_LEN];
	pid_t pid;

	if (t->argv[0][0] == '/')
		snprintf(path, sizeof(path), "%s", t->argv[0]);
	else
		snprintf(path, sizeof(path), "/kvm/%s", t->argv[0]);
	if (access(path, X_OK)) {
		snprintf(why, whylen, "%.200s: %s", path, strerror(errno));
		return FAIL;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return FAIL;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return FAIL;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		setsid();
		dup2(null, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		/* The selftests open their own ELF file through argv[0]. */
		t->argv[0] = path;
		execv(path, t->argv);
		dprintf(2, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);

	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		double left = deadline - now();
		ssize_t n;
		int r;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Re-split into lines so that every line gets the "# " prefix. */
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || pending == sizeof(line) - 1) {
				out_diag(line, pending);
				pending = 0;
				if (buf[i] == '\n')
					continue;
			}
			line[pending++] = buf[i];
		}
	}
	if (pending)
		out_diag(line, pending);
	close(pipefd[0]);

	/*
	 * The output pipe is closed (or the deadline passed); the test itself
	 * may still run, e.g. if it closed stdout. Wait for it until the
	 * deadline, then kill it and give it 10 seconds to go away.
	 */
	for (bool killed = false;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, whylen, "waitpid: %s", strerror(errno));
			return FAIL;
		}
		if (!killed && now() >= deadline) {
			timed_out = true;
			killed = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			deadline = now() + 10;
		} else if (killed && now() >= deadline) {
			snprintf(why, whylen, "TIMEOUT after %ds, and the test could not be killed",
				 t->timeout);
			return FAIL;
		}
		usleep(20000);
	}
	/* Leftover processes of the test's session must not outlive it. */
	kill(-pid, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;

	if (timed_out) {
		snprintf(why, whylen, "TIMEOUT after %ds", t->timeout);
		return FAIL;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, whylen, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return FAIL;
	}
	if (WEXITSTATUS(status) == 4) {	/* KSFT_SKIP */
		snprintf(why, whylen, "SKIP exit code 4");
		return SKIP;
	}
	if (WEXITSTATUS(status)) {
		snprintf(why, whylen, "exit code %d", WEXITSTATUS(status));
		return FAIL;
	}
	return PASS;
}

static enum result run_test(struct test *t, char *why, size_t whylen, bool have_kvm)
{
	if (!strcmp(t->argv[0], "@bootlog") || !strcmp(t->argv[0], "@postlog")) {
		bool post = t->argv[0][1] == 'p';

		if (kmsg_fd < 0) {
			snprintf(why, whylen, "cannot read /dev/kmsg: splats would go unseen");
			return FAIL;
		}
		if (post) {
			sleep(1);	/* let deferred work of the last test log */
			klog_read();
		}
		if (report_splats(klog_scanned)) {
			snprintf(why, whylen, "kernel splat %s", post ?
				 "after the last test" : "before the tests");
			klog_scanned = klog_len;
			return FAIL;
		}
		klog_scanned = klog_len;
		return PASS;
	}
	if (!strcmp(t->argv[0], "@kunit")) {
		bool skipped = false;
		int r;

		if (!t->argv[1]) {
			snprintf(why, whylen, "@kunit needs a suite name");
			return FAIL;
		}
		kunit_log(t->argv[1]);
		r = kunit_result(t->argv[1], &skipped);
		if (r < 0) {
			snprintf(why, whylen, "KUnit suite %s did not run", t->argv[1]);
			return FAIL;
		}
		if (!r) {
			snprintf(why, whylen, "KUnit suite %s failed", t->argv[1]);
			return FAIL;
		}
		if (skipped) {
			snprintf(why, whylen, "SKIP KUnit suite skipped");
			return SKIP;
		}
		return PASS;
	}
	/* Selftests skip without /dev/kvm; here that is a failure. */
	if (!have_kvm) {
		snprintf(why, whylen, "/dev/kvm is missing");
		return FAIL;
	}
	return run_program(t, why, whylen);
}

int main(void)
{
	const char *plan = getenv("ktest_plan");
	bool have_kvm;
	int failed = 0;

	setup_system();
	/*
	 * Touch the whole buffer now: pages it gets as the log grows would
	 * count as memory the tests did not give back.
	 */
	klog = malloc(KLOG_MAX + 1);
	if (klog)
		memset(klog, 0, KLOG_MAX + 1);
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	klog_read();

	out("KTAP version 1\n");
	out("# ktest: plan %s, kernel log %s\n", plan ? plan : "/plan",
	    kmsg_fd < 0 ? "unavailable" : "captured");
	if (getenv("ktest_leak") &&
	    parse_tolerance(getenv("ktest_leak"), &default_tolerance))
		out("# ktest: bad ktest_leak=%s, using memfree_kb:%ld,slab:%ld\n",
		    getenv("ktest_leak"), default_tolerance.memfree_kb,
		    default_tolerance.slab);
	if (load_plan(plan ? plan : "/plan")) {
		out("1..0 # SKIP no usable plan\n");
		out("# ktest: done\n");
		goto off;
	}
	have_kvm = !access("/dev/kvm", R_OK | W_OK);
	settle();
	take_snapshot(&baseline);
	have_baseline = true;
	if (!have_kvm)
		out("# ktest: /dev/kvm is missing: every KVM test fails\n");
	out("1..%d\n", nr_tests);

	for (int i = 0; i < nr_tests; i++) {
		struct test *t = &tests[i];
		char why[512] = "";
		double start = now();
		enum result r;
		size_t from;
		int splat;

		out("# ktest: start %s (timeout %ds)\n", t->name, t->timeout);
		r = run_test(t, why, sizeof(why), have_kvm);
		if (t->argv[0][0] != '@') {
			char leak[200] = "";

			if (leak_check(t, leak, sizeof(leak), 30)) {
				size_t l = strlen(why);

				snprintf(why + l, sizeof(why) - l, "%sleak: %s",
					 l ? "; " : "", leak);
				r = FAIL;
			}
			/* Everything since the previous check, teardown included. */
			klog_read();
			from = klog_scanned;
			klog_scanned = klog_len;
			splat = report_splats(from);
			if (splat) {
				size_t l = strlen(why);

				snprintf(why + l, sizeof(why) - l, "%skernel splat",
					 l ? "; " : "");
				r = FAIL;
			}
		}
		if (klog_truncated && kmsg_fd >= 0) {
			size_t l = strlen(why);

			snprintf(why + l, sizeof(why) - l, "%skernel log truncated",
				 l ? "; " : "");
			klog_truncated = false;
			r = FAIL;
		}
		if (r == FAIL)
			failed++;
		if (r == SKIP && !strncmp(why, "SKIP ", 5))
			memmove(why, why + 5, strlen(why + 5) + 1);
		out("%sok %d %s # %s%s%stime=%.1fs\n", r == FAIL ? "not " : "",
		    i + 1, t->name, r == SKIP ? "SKIP " : "", why,
		    why[0] ? " " : "", now() - start);
	}
	out("# ktest: done, %d of %d failed\n", failed, nr_tests);
off:
	sync();
	/* QEMU runs with -no-reboot, so a reset ends it on every arch. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
