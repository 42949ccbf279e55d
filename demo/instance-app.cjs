// The demo's single-instance app: the first launch becomes the primary and answers every later
// launch; a later launch hands its argv over, prints the primary's answer and exits. The same
// five lines an Electron main process uses (see the README's Single instance section).
const sole = require('../lib/index.js')

const [dir] = process.argv.slice(2)
const inst = sole.requestSingleInstanceSync('demo-app', { dir })
if (!inst.primary) {
  console.log(JSON.stringify({ ev: 'secondary', pid: process.pid, primaryPid: inst.primaryPid, reply: inst.reply }))
  process.exit(0)
}
inst.on('second-instance', (argv, workingDirectory, additionalData) => {
  console.log(JSON.stringify({ ev: 'got', argv, workingDirectory }))
  return `opened ${argv.slice(4).join(' ')} in PID ${process.pid}`
})
console.log(JSON.stringify({ ev: 'primary', pid: process.pid }))
process.on('message', (m) => {
  if (m === 'release') {
    inst.release()
    process.exit(0)
  }
})
