/*
 * The C reference for the process-identity section of bench.mjs: what a liveness check costs
 * with nothing in between.
 *
 *   killbench kill PID ITERS ROUNDS        kill(PID, 0)
 *   killbench move_pages PID ITERS ROUNDS  syscall(SYS_move_pages, PID, 0, NULL, NULL, NULL, 0):
 *       the one syscall behind sole's isAlive (0 for a live process, ESRCH for none)
 *   both print one line: the ns/op of each round, space separated. Every call of a run must give
 *   the same answer as the first (a pid that changes state mid-run would measure two things):
 *   otherwise the program exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 0 when the call succeeded, else errno: the answer a liveness check acts on. */
static int check_kill(pid_t pid) { return kill(pid, 0) == 0 ? 0 : errno; }

static int check_move_pages(pid_t pid) {
  return syscall(SYS_move_pages, (long)pid, 0ul, (void *)0, (void *)0, (void *)0, 0) == 0 ? 0 : errno;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: killbench kill|move_pages PID ITERS ROUNDS\n");
    return 1;
  }
  int (*check)(pid_t);
  if (strcmp(argv[1], "kill") == 0)
    check = check_kill;
  else if (strcmp(argv[1], "move_pages") == 0)
    check = check_move_pages;
  else {
    fprintf(stderr, "killbench: unknown mode %s\n", argv[1]);
    return 1;
  }
  pid_t pid = (pid_t)atol(argv[2]);
  long iters = atol(argv[3]);
  int rounds = atoi(argv[4]);
  if (pid <= 0 || iters <= 0 || rounds <= 0) {
    fprintf(stderr, "killbench: bad arguments\n");
    return 1;
  }
  int first = check(pid);
  for (int r = 0; r < rounds; r++) {
    long same = 0;
    uint64_t t = now_ns();
    for (long i = 0; i < iters; i++) same += check(pid) == first;
    uint64_t dt = now_ns() - t;
    if (same != iters) {
      fprintf(stderr, "killbench: pid %d changed state during the run (%s first)\n", (int)pid, first ? strerror(first) : "alive");
      return 2;
    }
    printf("%s%.1f", r ? " " : "", (double)dt / (double)iters);
  }
  printf("\n");
  return 0;
}
