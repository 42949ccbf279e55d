/** `sole status`: NOT BUILT YET (skeleton on the integration branch; never lands like this). */
import { type Command, CliError } from './common.js'

export const status: Command = {
  summary: 'TODO',
  help: 'Usage: sole status\n',
  run() {
    throw new CliError('sole status is not built yet')
  },
}
