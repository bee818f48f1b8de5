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
 * Plan lines: NAME <TAB> TIMEOUT_SECONDS <TAB> COMMAND [ARGS...]
 * COMMAND is a program relative to /kvm, or one of the built-ins:
 *   @bootlog          the kernel log up to init has no splat
 *   @postlog          the kernel log after the last test has no splat
 *   @kunit SUITE      result of a built-in KUnit suite printed at boot
 *
 * The kernel log is scanned without gaps: each test is charged with every
 * line logged since the previous test's check, so splats during a test's
 * teardown count against it.
 *
 * Built statically, with no dependency beyond libc, for every arch.
 */
#define _GNU_SOURCE
#include <ctype.h>
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

struct test {
	char *name;
	int timeout;
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
		char *s = trim(line), *name, *tmo, *cmd, *save = NULL, *arg;
		struct test *t;
		int argc = 0;

		lineno++;
		if (!*s || *s == '#')
			continue;
		name = strtok_r(s, "\t", &save);
		tmo = strtok_r(NULL, "\t", &save);
		cmd = strtok_r(NULL, "\t", &save);
		if (!name || !tmo || !cmd || nr_tests == MAX_TESTS) {
			out("# ktest: %s:%d: bad plan line\n", path, lineno);
			fclose(f);
			return -1;
		}
		t = &tests[nr_tests++];
		t->name = strdup(name);
		t->timeout = atoi(tmo);
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
	klog = calloc(1, KLOG_MAX + 1);
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	klog_read();

	out("KTAP version 1\n");
	out("# ktest: plan %s, kernel log %s\n", plan ? plan : "/plan",
	    kmsg_fd < 0 ? "unavailable" : "captured");
	if (load_plan(plan ? plan : "/plan")) {
		out("1..0 # SKIP no usable plan\n");
		out("# ktest: done\n");
		goto off;
	}
	have_kvm = !access("/dev/kvm", R_OK | W_OK);
	if (!have_kvm)
		out("# ktest: /dev/kvm is missing: every KVM test fails\n");
	out("1..%d\n", nr_tests);

	for (int i = 0; i < nr_tests; i++) {
		struct test *t = &tests[i];
		char why[256] = "";
		double start = now();
		enum result r;
		size_t from;
		int splat;

		out("# ktest: start %s (timeout %ds)\n", t->name, t->timeout);
		r = run_test(t, why, sizeof(why), have_kvm);
		if (t->argv[0][0] != '@') {
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
