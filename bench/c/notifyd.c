/*
 * The trivial daemon of bench/daemon.mjs: reports readiness, then waits for a signal.
 *
 * - With $NOTIFY_SOCKET (sole's spawnDaemon, start-stop-daemon --notify-await, systemd
 *   Type=notify): one datagram "READY=1" sent with sendto(2) on an AF_UNIX SOCK_DGRAM socket,
 *   the sd_notify(3) protocol without libsystemd ("@name" is an abstract socket). The kernel
 *   attaches the sender's credentials for a receiver that set SO_PASSCRED.
 * - With $READY_FD (the child_process.spawn comparison): one byte written to that descriptor,
 *   which is then closed: a pipe the parent reads.
 * Exit status: 0 after a signal ends pause(), 71 when the notification cannot be sent.
 */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
  const char *sock = getenv("NOTIFY_SOCKET");
  const char *fd = getenv("READY_FD");
  if (sock && *sock) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(sock);
    if (n >= sizeof sa.sun_path) return 71;
    memcpy(sa.sun_path, sock, n);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (sock[0] == '@' ? 0 : 1));
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 71;
    static const char msg[] = "READY=1";
    if (sendto(s, msg, sizeof msg - 1, 0, (struct sockaddr *)&sa, len) < 0) return 71;
    close(s);
  } else if (fd && *fd) {
    int f = atoi(fd);
    if (write(f, "R", 1) != 1) return 71;
    close(f);
  }
  for (;;) pause();
}
