// One contender of the demo: a real process that races for the pidfile, and if it loses,
// waits for the owner to go away and takes over at once. Talks to demo.mjs over IPC.
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const sole = require('../lib/index.js')

const [pidfile] = process.argv.slice(2)
let claim = null

process.on('message', async (msg) => {
  if (msg.cmd === 'go') {
    try {
      claim = sole.claimPidfile(pidfile)
      process.send({ ev: 'won', pid: process.pid })
    } catch (err) {
      if (err.code !== 'EHELD') throw err
      process.send({ ev: 'refused', pid: process.pid, holder: err.pid, message: err.message })
      // Standby: the kernel wakes us when the owner releases or dies.
      claim = await sole.claimPidfileWhenFree(pidfile)
      const at = process.hrtime.bigint()
      process.send({ ev: 'tookOver', pid: process.pid, at: at.toString() })
    }
  } else if (msg.cmd === 'release') {
    claim?.release()
    process.send({ ev: 'released', pid: process.pid })
    process.disconnect()
  }
})
process.send({ ev: 'ready', pid: process.pid })
