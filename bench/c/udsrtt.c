// The C reference of the single-instance benchmark: the floor for one message from a second
// instance to the primary and its answer back, on a Unix stream socket: connect, write one
// length-prefixed frame, read one length-prefixed reply, close. A forked server process
// accepts, reads the frame and answers "null" (what a handler that returns nothing sends).
// Usage: udsrtt SOCKET_PATH RUNS → prints "median_ns p99_ns" on stdout.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int full(int fd, void *buf, size_t n, int writing) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int frame_in(int fd, char *body, size_t cap) {
  uint32_t be;
  if (full(fd, &be, 4, 0)) return -1;
  uint32_t n = ntohl(be);
  if (n > cap) return -1;
  return full(fd, body, n, 0) ? -1 : (int)n;
}

static int frame_out(int fd, const char *body, uint32_t n) {
  uint32_t be = htonl(n);
  if (full(fd, &be, 4, 1)) return -1;
  return full(fd, (void *)body, n, 1);
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: udsrtt SOCKET_PATH RUNS\n");
    return 2;
  }
  int runs = atoi(argv[2]);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof a.sun_path) return 2;
  strcpy(a.sun_path, argv[1]);
  unlink(argv[1]);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64)) return perror("server"), 1;
  pid_t server = fork();
  if (server == 0) {
    char body[65536];
    for (;;) {
      int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (frame_in(c, body, sizeof body) >= 0) frame_out(c, "{\"v\":1,\"ok\":true,\"reply\":null}", 30);
      close(c);
    }
  }
  close(ls);
  const char *msg = "{\"v\":1,\"argv\":[\"node\",\"app.js\",\"--open\",\"file.txt\"],\"cwd\":\"/home/user\",\"additionalData\":null,\"pid\":1}";
  uint64_t *t = calloc((size_t)runs, sizeof *t);
  char reply[65536];
  for (int i = 0; i < runs; i++) {
    uint64_t t0 = now_ns();
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) return perror("connect"), 1;
    if (frame_out(s, msg, (uint32_t)strlen(msg)) || frame_in(s, reply, sizeof reply) < 0) return fprintf(stderr, "round trip failed\n"), 1;
    close(s);
    t[i] = now_ns() - t0;
  }
  kill(server, SIGKILL);
  waitpid(server, NULL, 0);
  unlink(argv[1]);
  qsort(t, (size_t)runs, sizeof *t, cmp);
  printf("%llu %llu\n", (unsigned long long)t[runs / 2], (unsigned long long)t[(runs * 99) / 100]);
  return 0;
}
