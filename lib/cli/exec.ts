/** `sole exec`: NOT BUILT YET (skeleton on the integration branch; never lands like this). */
import { type Command, CliError } from './common.js'

export const exec: Command = {
  summary: 'TODO',
  help: 'Usage: sole exec\n',
  run() {
    throw new CliError('sole exec is not built yet')
  },
}
