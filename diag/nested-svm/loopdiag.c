#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>
/* loopdiag N CMD ARGS...: run CMD N times; a run over 60 s is killed. */
int main(int argc, char **argv)
{
	int n = atoi(argv[1]), i, st, fails = 0, hangs = 0, t;
	for (i = 1; i <= n; i++) {
		pid_t p = fork();
		if (!p) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		for (t = 0; ; t++) {
			if (waitpid(p, &st, WNOHANG) == p)
				break;
			if (t == 600) {
				printf("loopdiag: run %d TIMEOUT, killing\n", i);
				fflush(stdout);
				kill(p, SIGKILL);
				hangs++;
			}
			usleep(100000);
		}
		printf("loopdiag: run %d status %x (%d.%ds)\n", i, st, t / 10, t % 10);
		fflush(stdout);
		if (st)
			fails++;
	}
	printf("loopdiag: %d runs, %d failures, %d timeouts\n", n, fails, hangs);
	return fails ? 1 : 0;
}
