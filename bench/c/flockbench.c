/*
 * The C reference for bench.mjs: what flock costs with nothing in between.
 *
 *   flockbench loop PATH ITERS ROUNDS      flock(LOCK_EX|LOCK_NB) + flock(LOCK_UN) on one open fd
 *   flockbench openloop PATH ITERS ROUNDS  open + flock(LOCK_EX|LOCK_NB) + close
 *       both print one line: the ns/op of each round, space separated
 *   flockbench worker PATH                 line protocol on stdin/stdout, same as worker.cjs:
 *       -> "ready"
 *       "contend START END" (CLOCK_MONOTONIC ns) -> loop blocking flock / ++n / unlock
 *                                               from START until END -> "count N"
 *       "hold"    -> blocking flock           -> "held"
 *       "wait"    -> "waiting", blocking flock -> "got T" (T: CLOCK_MONOTONIC ns at grant)
 *       "release" -> T = now; flock(LOCK_UN)  (silent: see worker.cjs)
 *       "report"  -> "released T"
 *       "exit"
 *   flockbench worker PATH thread           the same, but "wait" blocks in flock on a helper thread
 *       that then wakes the main thread, parked in epoll_wait, through an eventfd: the two-hop
 *       wake-up any event-loop waiter (libuv threadpool, a dedicated thread + uv_async) pays.
 *
 * CLOCK_MONOTONIC is the clock behind Node's process.hrtime.bigint(), so T values from C and
 * Node processes on one host are comparable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "flockbench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void say(const char *fmt, unsigned long long v, int with_value) {
  char buf[64];
  int n = with_value ? snprintf(buf, sizeof buf, fmt, v) : snprintf(buf, sizeof buf, "%s", fmt);
  if (write(1, buf, (size_t)n) != n) die("write");
}

static int open_lock(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) die("open");
  return fd;
}

static void lock_blocking(int fd) {
  while (flock(fd, LOCK_EX) != 0)
    if (errno != EINTR) die("flock");
}

static void sleep_until(uint64_t t) {
  struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static volatile unsigned long sink;

struct hop {
  int fd, efd;
};

static void *hop_wait(void *arg) {
  struct hop *h = arg;
  uint64_t one = 1;
  lock_blocking(h->fd);
  if (write(h->efd, &one, sizeof one) != sizeof one) die("eventfd write");
  return NULL;
}

/* Wait for the lock on a helper thread; the main thread sleeps in epoll_wait until woken. */
static void lock_two_hop(int fd) {
  static int efd = -1, ep = -1;
  if (efd < 0) {
    struct epoll_event ev = {.events = EPOLLIN};
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) die("eventfd/epoll");
  }
  struct hop h = {fd, efd};
  pthread_t t;
  if (pthread_create(&t, NULL, hop_wait, &h) != 0) die("pthread_create");
  struct epoll_event got;
  while (epoll_wait(ep, &got, 1, -1) != 1) {
  }
  uint64_t v;
  if (read(efd, &v, sizeof v) != sizeof v) die("eventfd read");
  pthread_join(t, NULL);
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "loop") == 0) {
    int fd = open_lock(argv[2]);
    long iters = atol(argv[3]), rounds = atol(argv[4]);
    for (long r = 0; r < rounds; r++) {
      uint64_t t0 = now_ns();
      for (long i = 0; i < iters; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("flock");
        if (flock(fd, LOCK_UN) != 0) die("flock un");
      }
      printf("%s%.1f", r ? " " : "", (double)(now_ns() - t0) / (double)iters);
    }
    printf("\n");
    return 0;
  }
  if (argc >= 5 && strcmp(argv[1], "openloop") == 0) {
    long iters = atol(argv[3]), rounds = atol(argv[4]);
    for (long r = 0; r < rounds; r++) {
      uint64_t t0 = now_ns();
      for (long i = 0; i < iters; i++) {
        int fd = open_lock(argv[2]);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("flock");
        close(fd);
      }
      printf("%s%.1f", r ? " " : "", (double)(now_ns() - t0) / (double)iters);
    }
    printf("\n");
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "worker") == 0) {
    int fd = open_lock(argv[2]);
    int two_hop = argc >= 4 && strcmp(argv[3], "thread") == 0;
    char line[256];
    unsigned long long released = 0;
    say("ready\n", 0, 0);
    while (fgets(line, sizeof line, stdin)) {
      if (strncmp(line, "contend ", 8) == 0) {
        unsigned long long start = 0, end = 0, n = 0;
        if (sscanf(line + 8, "%llu %llu", &start, &end) != 2) die("bad contend line");
        sleep_until(start);
        while (now_ns() < end) {
          lock_blocking(fd);
          sink = sink + 1; /* the critical section */
          n++;
          if (flock(fd, LOCK_UN) != 0) die("flock un");
        }
        say("count %llu\n", n, 1);
      } else if (strncmp(line, "hold", 4) == 0) {
        lock_blocking(fd);
        say("held\n", 0, 0);
      } else if (strncmp(line, "wait", 4) == 0) {
        say("waiting\n", 0, 0);
        if (two_hop) lock_two_hop(fd);
        else lock_blocking(fd);
        say("got %llu\n", now_ns(), 1);
      } else if (strncmp(line, "release", 7) == 0) {
        released = now_ns();
        if (flock(fd, LOCK_UN) != 0) die("flock un");
      } else if (strncmp(line, "report", 6) == 0) {
        say("released %llu\n", released, 1);
      } else if (strncmp(line, "exit", 4) == 0) {
        return 0;
      }
    }
    return 0;
  }
  fprintf(stderr, "usage: flockbench loop|openloop PATH ITERS ROUNDS | worker PATH\n");
  return 2;
}
