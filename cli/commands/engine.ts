// The Docker engine VM, for Docker labs (`npm run pulumi -- up`) on hosts whose kernel has no IPVS.
import {
  engineDown,
  engineUp,
  engineVmAddress,
  engineVmLabel,
  engineVmRunning,
  namedEngines,
  readEngineState,
} from '../../docker/engine-vm.js';
import { UserError } from '../../model/errors.js';
import type { Command } from '../context.js';

export const ENGINE_COMMAND: Command = {
  name: 'engine',
  usage:
    'engine up|down|status  the Docker engine VM for Docker labs (`npm run pulumi -- up`) on hosts whose kernel has no IPVS\n' +
    '                  (--engine NAME: another engine VM beside it, `vm:NAME` in a stack that spans engines)',
  run: async ({ values, log }) => {
    const action = values.args[0];
    const name = values.engine;
    const which = engineVmLabel(name);
    if (action === 'up') {
      await engineUp(log, name);
      log(`Docker ${which} ready: \`npm run pulumi -- up --stack <stack>\` builds a Docker lab on it`);
    } else if (action === 'down') {
      if (!(await engineDown(log, name))) log(`no ${which} is up; nothing to remove`);
    } else if (action === 'status') {
      // Without --engine: every engine VM there is, each with its underlay address.
      for (const n of name ? [name] : [undefined, ...(await namedEngines())]) {
        const underlay = (await readEngineState(n))?.underlay;
        const running = await engineVmRunning(n);
        console.log(
          `${engineVmLabel(n)}: ${running ? 'running' : 'not running'}` +
            (running && underlay ? ` (underlay ${underlay}; in a stack: ${engineVmAddress(n)})` : ''),
        );
      }
    } else throw new UserError(`engine: "${action ?? ''}" is not one of up, down, status`);
    return 0;
  },
};
