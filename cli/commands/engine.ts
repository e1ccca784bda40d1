// The Docker engine VM, for Docker labs (`npm run pulumi -- up`) on hosts whose kernel has no IPVS.
import { engineDown, engineUp, engineVmRunning } from '../../docker/engine-vm.js';
import { UserError } from '../../model/errors.js';
import type { Command } from '../context.js';

export const ENGINE_COMMAND: Command = {
  name: 'engine',
  usage: `engine up|down|status  the Docker engine VM for Docker labs (\`npm run pulumi -- up\`) on hosts whose kernel has no IPVS`,
  run: async ({ values, log }) => {
    const action = values.args[0];
    if (action === 'up') {
      await engineUp(log);
      log('Docker engine VM ready: `npm run pulumi -- up --stack <stack>` builds a Docker lab on it');
    } else if (action === 'down') {
      if (!(await engineDown(log))) log('no engine VM is up; nothing to remove');
    } else if (action === 'status') {
      console.log((await engineVmRunning()) ? 'engine VM: running' : 'engine VM: not running');
    } else throw new UserError(`engine: "${action ?? ''}" is not one of up, down, status`);
    return 0;
  },
};
