/**
 * `sole daemon start|stop|status`. (being written)
 */
import { type Command, CliError } from './common.js'

export const daemon: Command = {
  summary: 'start a daemon and wait until it is ready, stop it, or show its status',
  help: 'Usage: sole daemon start|stop|status (being written)\n',
  run() {
    throw new CliError('sole daemon is being written')
  },
}
