// The demo's daemon: a Node program that reports readiness with sd_notify (sole's
// daemonReady/notify: the same call works under systemd Type=notify and start-stop-daemon
// --notify-await), then waits for SIGTERM. It holds its pidfile because spawnDaemon had it
// claim the file before exec.
const sole = require('../lib/index.js')

sole.notify({ status: 'loading' })
sole.notify({ ready: true, status: `serving as PID ${process.pid}` })
process.on('SIGTERM', () => {
  sole.notify({ stopping: true })
  process.exit(0)
})
setInterval(() => {}, 1 << 30)
