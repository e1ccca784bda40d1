// npm run lab -- up|verify|status|plan|down|vagrantfile|engine [--file lab.yaml] [--testbed auto|netns|vm|vagrant] [--name NAME] [--stack S]
import { parseArgs } from 'node:util';
import { readStackSettings } from '../infra/config.js';
import { UserError } from '../model/errors.js';
import { loadLab } from '../model/load.js';
import { PRESET_NAMES } from '../model/presets.js';
import type { Lab } from '../model/topology.js';
import { formatPlan, planLab } from '../provision/plan.js';
import { connectDockerLab, engineDown, engineUp, engineVmRunning } from '../testbed/docker/engine.js';
import { connectLab, labDown, labUp, TESTBEDS, type TestbedChoice } from '../testbed/lab.js';
import { listStates, readState, TESTBED_KINDS } from '../testbed/state.js';
import { previewVagrantfile } from '../testbed/vagrant/preview.js';
import { formatChecks, verifyLab } from '../verify/report.js';

const USAGE = `usage: npm run lab -- <command> [options]

commands:
  up       build the lab, provision it with the plan, and verify it (re-running re-applies; changes nothing if in place)
  verify   run the DR checks against a running lab
  status   list the labs that are up
  plan     print the exact commands each host runs (--guards adds the idempotency checks)
  down     remove everything the lab created
  vagrantfile
           print the lab's Vagrantfile (the running lab's, or the one \`up --testbed vagrant\` would write)
  engine up|down|status
           the Docker engine VM for Docker labs (\`npm run pulumi -- up\`) on hosts whose kernel has no IPVS

options:
  --file F        lab description (YAML or JSON); default: the reference LVS-DR lab
  --preset P      a named variant (its fields under the file's): ${PRESET_NAMES.join(', ')}
  --name N        lab name (default: the file's or preset's name field, or "lvs")
  --testbed T     auto (default) | netns | vm | vagrant
  --stack S       with verify: the Docker lab of Pulumi stack S (Pulumi.S.yaml)
  --no-verify     with up: skip the checks
  --guards        with plan: show each step's "already in place" check
  --debug         print stack traces with errors`;

async function connectStackLab(stack: string) {
  const settings = await readStackSettings(stack);
  return connectDockerLab(settings.lab, settings.engine);
}

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      preset: { type: 'string' },
      name: { type: 'string' },
      testbed: { type: 'string', default: 'auto' },
      stack: { type: 'string' },
      'no-verify': { type: 'boolean', default: false },
      guards: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      debug: { type: 'boolean', default: false },
    },
  });
  debug = values.debug;
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const testbed = values.testbed as TestbedChoice;
  if (!['auto', ...TESTBED_KINDS].includes(testbed)) throw new UserError(`--testbed: "${values.testbed}" is not one of auto, ${TESTBED_KINDS.join(', ')}`);
  const loadModel = async (): Promise<Lab> => {
    const lab = await loadLab(values.file, values.preset);
    return values.name ? { ...lab, name: values.name } : lab;
  };

  switch (command) {
    case 'plan': {
      const lab = await loadModel();
      // The plan of the testbed the lab would run on: realservers' httpd files differ between shared and own filesystems.
      const tb = testbed === 'auto' ? TESTBEDS.netns : TESTBEDS[testbed];
      console.log(formatPlan(planLab(lab, { httpd: tb.httpdLayout(lab) }), { guards: values.guards }));
      return 0;
    }
    case 'up': {
      const lab = await loadModel();
      log(`lab ${lab.name}: ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}, ${lab.realservers.length} realservers`);
      const { session, report } = await labUp(lab, {
        testbed,
        log,
        onStep: (o) => {
          if (o.result === 'shown') console.log(o.output.trimEnd().replace(/^/gm, `        ${o.host}| `));
        },
      });
      try {
        if (values['no-verify']) return 0;
        log('verifying');
        const checks = await verifyLab(session);
        console.log(formatChecks(checks));
        log(`${checks.filter((c) => c.ok).length}/${checks.length} checks passed; \`npm run lab -- down${values.file ? ` --file ${values.file}` : ''}\` removes the lab`);
        return checks.every((c) => c.ok) ? 0 : 1;
      } finally {
        void report;
        await session.close();
      }
    }
    case 'verify': {
      const session = values.stack ? await connectStackLab(values.stack) : await connectLab(values.name ?? (await loadModel()).name);
      try {
        const checks = await verifyLab(session);
        console.log(formatChecks(checks));
        log(`${checks.filter((c) => c.ok).length}/${checks.length} checks passed`);
        return checks.every((c) => c.ok) ? 0 : 1;
      } finally {
        await session.close();
      }
    }
    case 'status': {
      const states = await listStates();
      if (states.length === 0) console.log('no labs are up');
      for (const s of states) {
        const where = TESTBEDS[s.testbed].describe(s);
        console.log(`${s.lab.name}: ${s.lab.forwarding} ${s.lab.service.scheduler} VIP ${s.lab.vip}:${s.lab.service.port}, ${s.lab.realservers.length} realservers; ${where}; up since ${s.createdAt}`);
      }
      return 0;
    }
    case 'down': {
      const lab = await loadModel();
      const removed = await labDown(values.name ?? lab.name, { log, fallback: lab });
      if (!removed) log(`no lab named "${values.name ?? lab.name}" is up; nothing to remove`);
      return 0;
    }
    case 'vagrantfile': {
      const lab = await loadModel();
      const state = await readState(values.name ?? lab.name);
      console.log(state?.vagrant ? await previewVagrantfile(state.lab, state.vagrant) : await previewVagrantfile(lab));
      return 0;
    }
    case 'engine': {
      const action = positionals[1];
      if (action === 'up') {
        await engineUp(log);
        log('Docker engine VM ready: `npm run pulumi -- up --stack <stack>` builds a Docker lab on it');
      } else if (action === 'down') {
        if (!(await engineDown(log))) log('no engine VM is up; nothing to remove');
      } else if (action === 'status') {
        console.log((await engineVmRunning()) ? 'engine VM: running' : 'engine VM: not running');
      } else {
        console.error(`engine: "${action ?? ''}" is not one of up, down, status`);
        return 2;
      }
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

let debug = false;

// A refusal (UserError) exits 2, a failure 1; the stack trace is for --debug, not for users.
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(debug ? err : `error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof UserError ? 2 : 1);
  },
);
