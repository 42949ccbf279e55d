/** `sole lock`: NOT BUILT YET (skeleton on the integration branch; never lands like this). */
import { type Command, CliError } from './common.js'

export const lock: Command = {
  summary: 'TODO',
  help: 'Usage: sole lock\n',
  run() {
    throw new CliError('sole lock is not built yet')
  },
}
