/** `sole kill`: NOT BUILT YET (skeleton on the integration branch; never lands like this). */
import { type Command, CliError } from './common.js'

export const kill: Command = {
  summary: 'TODO',
  help: 'Usage: sole kill\n',
  run() {
    throw new CliError('sole kill is not built yet')
  },
}
