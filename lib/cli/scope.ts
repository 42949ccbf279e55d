/** `sole scope`: NOT BUILT YET (skeleton on the integration branch; never lands like this). */
import { type Command, CliError } from './common.js'

export const scope: Command = {
  summary: 'TODO',
  help: 'Usage: sole scope\n',
  run() {
    throw new CliError('sole scope is not built yet')
  },
}
