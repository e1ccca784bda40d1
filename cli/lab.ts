// npm run lab -- up|verify|status|plan|down|vagrantfile|engine [--file lab.yaml] [--testbed auto|netns|vm|vagrant] [--name NAME] [--stack S]
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { capture, formatCapture } from '../inside/capture.js';
import { hostNamed } from '../inside/hosts.js';
import {
  applyFault,
  faultsInForce,
  faultText,
  FAULT_USAGE,
  formatFaults,
  parseFault,
  type HostPower,
  type InForce,
} from '../drive/fault.js';
import { checkLoadOptions, formatLoad, runLoad } from '../drive/load.js';
import { dockerPower, netnsPower } from '../drive/power.js';
import { formatObservation, observe } from '../inside/observe.js';
import type { Shell } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import type { DockerEngine } from '../docker/engine.js';
import { containerName } from '../docker/spec.js';
import { trapInterrupts } from '../lab/interrupt.js';
import { parseCli, type CliOptions } from './options.js';
import { readStackSettings } from '../model/stack.js';
import { UserError } from '../model/errors.js';
import { loadLab } from '../model/load.js';
import { PRESET_NAMES } from '../model/presets.js';
import { hostsOf, REFERENCE_LAB, type Lab } from '../model/topology.js';
import { shq } from '../provision/shell.js';
import { formatPlan, planLab } from '../provision/plan.js';
import { connectDockerLab } from '../docker/engine.js';
import { engineDown, engineUp, engineVmRunning } from '../docker/engine-vm.js';
import { connectLab, labDown, labUp, TESTBEDS } from '../lab/lifecycle.js';
import { listStates, readState, scanStates } from '../lab/state.js';
import { previewVagrantfile } from '../testbed/vagrant/preview.js';
import { ensureImage } from '../machine/image.js';
import { ensureSavedVm } from '../machine/machine.js';
import { LAB_VM } from '../machine/saved.js';
import { macsOf } from '../verify/probes.js';
import { formatChecks, verifyLab } from '../verify/report.js';

const USAGE = `usage: npm run lab -- <command> [options]

commands:
  up       build the lab, provision it with the plan, and verify it (re-running re-applies; changes nothing if in place)
  verify   run the DR checks against a running lab
  status   list the labs that are up
  plan     print the exact commands each host runs (--guards adds the idempotency checks)
  down     remove everything the lab created
  exec H -- CMD   run CMD on host H of a running lab, streaming its output; exits with its status (--all: every host)
  shell H         an interactive shell on host H (leave with \`exit\` or Ctrl-D)
  load            requests to the VIP from the client, bounded (--requests N | --duration S, --concurrency C, --rate R,
                  --clients K, --path P, --json): errors, latency, the share per realserver beside the predicted one
  fault H F       inject a fault on host H: delay 200ms [jitter 20ms], loss 10%, rate 1mbit, corrupt 1%, link down|up,
                  httpd stop|start, host stop|start; \`fault H clear\` undoes them; \`fault --list\` shows what is in force
  observe         send requests to the VIP, then show what the seed looks at: ipvsadm -lnc, netstat, arp, route
  capture         capture on the hosts' lab interfaces while requests run: one pcap per host, and a summary
  graph           draw the lab (SVG and PNG): hosts, IPs, MACs, the switch, the VIP, the request and reply paths
  image           build the VM image and save a booted lab VM now (otherwise done on first use; both cached)
  vagrantfile
           print the lab's Vagrantfile (the running lab's, or the one \`up --testbed vagrant\` would write)
  engine up|down|status
           the Docker engine VM for Docker labs (\`npm run pulumi -- up\`) on hosts whose kernel has no IPVS

options:
  --file F        lab description (YAML or JSON); default: the reference LVS-DR lab
  --preset P      a named variant (its fields under the file's): ${PRESET_NAMES.join(', ')}
  --name N        lab name (default: the file's or preset's name field, or "lvs")
  --testbed T     auto (default) | netns | vm | vagrant
  --stack S       with verify, exec, shell, observe, capture, graph: the Docker lab of Pulumi stack S (Pulumi.S.yaml)
  --all           with exec: on every host, each line prefixed with its host
  --requests N    with observe (default 6) and capture (default 4): requests to the VIP
  --hosts A,B     with capture: the hosts to capture on (default: client, director, the first realserver)
  --out PATH      with capture: the directory for the pcaps (default captures/); with graph: the SVG (default lab.svg)
  --no-verify     with up: skip the checks
  --clear-faults  with up: clear the faults in force (fault H clear) before re-applying the plan
  --guards        with plan: show each step's "already in place" check
  --debug         print stack traces with errors`;

/** How a running lab's hosts are stopped and started: its containers, or its namespaces on their machine. */
function powerOf(access: LabAccess & { machine?: Shell; engine?: DockerEngine }): HostPower | undefined {
  if (access.engine) return dockerPower(access.engine.docker, (h) => containerName(access.lab.name, h));
  if (access.machine && access.transport.kind === 'netns') return netnsPower(access.machine, access.lab);
  // A Vagrant lab is opened by a connection to every machine, which a suspended one would refuse: not offered yet.
  return undefined;
}

/** One line of a running lab's faults for `status`, read from its hosts; a lab that cannot be reached says so. */
async function faultsLine(name: string): Promise<string> {
  try {
    const session = await connectLab(name);
    try {
      const faults = await faultsInForce(session, powerOf(session));
      return faults.length === 0 ? 'faults: none' : `faults: ${faults.map(faultText).join('; ')}`;
    } finally {
      await session.close();
    }
  } catch (err) {
    return `faults: not read (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * A re-apply would undo a stopped httpd, a link down or a stopped host (netem it leaves alone): with faults of those
 * kinds in force it is refused, unless `--clear-faults` clears them first.
 */
async function faultsBeforeReapply(name: string, clear: boolean): Promise<void> {
  let session: Awaited<ReturnType<typeof connectLab>>;
  let faults: InForce[];
  try {
    session = await connectLab(name);
  } catch {
    return; // not reachable as a lab (its VM gone, a build cut short): the re-apply says why, or completes it
  }
  try {
    const power = powerOf(session);
    try {
      faults = await faultsInForce(session, power);
    } catch {
      return; // hosts not all there yet (a network build cut short): nothing a fault could have changed
    }
    const undone = faults.filter((f) => f.kind !== 'netem');
    if (undone.length === 0) return;
    if (!clear)
      throw new UserError(
        `lab ${name} has faults in force that re-applying its plan would undo (${undone.map(faultText).join('; ')}): ` +
          '`fault <host> clear` them, or `up --clear-faults`',
      );
    for (const host of new Set(undone.map((f) => f.host)))
      console.log(await applyFault(session, host, { kind: 'clear' }, power));
  } finally {
    await session.close();
  }
}

async function connectStackLab(stack: string) {
  const settings = await readStackSettings(stack);
  return connectDockerLab(settings.lab, settings.engine);
}

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

/**
 * The running lab a command acts on when none is named: the default lab's when it is up, else the one lab that is up
 * (said on stderr); with several and none named, a refusal that lists them.
 */
async function runningLabName(values: CliOptions, model: Lab): Promise<string> {
  if (values.name || values.file || values.preset) return model.name;
  const up = (await listStates()).map((s) => s.lab.name);
  if (up.includes(model.name) || up.length === 0) return model.name;
  if (up.length === 1) {
    console.error(`(lab ${up[0]}: the one lab that is up)`);
    return up[0];
  }
  throw new UserError(`--name: ${up.length} labs are up (${up.join(', ')}); say which with --name`);
}

async function main(values: CliOptions): Promise<number> {
  const command = values.command;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const testbed = values.testbed;
  // --name is one more lab-file field: checked by the same schema, with the lab file's other rules.
  const loadModel = (): Promise<Lab> => loadLab(values.file, values.preset, values.name);

  // A running lab: the netns/vm/vagrant lab of this name, or with --stack the Docker lab of that Pulumi stack.
  const openLab = async () =>
    values.stack ? connectStackLab(values.stack) : connectLab(await runningLabName(values, await loadModel()));
  const count = (fallback: number) => {
    const n = values.requests === undefined ? fallback : Number(values.requests);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new UserError(`--requests: "${values.requests}" is not a whole number from 1 to 1000`);
    return n;
  };

  switch (command) {
    case 'exec': {
      const [host, ...words] = values.args;
      if (!values.all && (!host || words.length === 0))
        throw new UserError('exec: usage: exec <host> -- <command...>, or exec --all -- <command...>');
      const access = await openLab();
      try {
        // Each word arrives as given (quoted on the way), as with docker exec; a shell string is `sh -c '...'`.
        const command = (values.all ? [host, ...words] : words)
          .filter((w) => w !== undefined)
          .map(shq)
          .join(' ');
        const hosts = values.all ? hostsOf(access.lab).map((h) => h.name) : [hostNamed(access.lab, host).name];
        // One host streams as it comes; several at once prefix each line with the host, as they finish.
        const results = await Promise.all(
          hosts.map((h) =>
            access.transport.run(
              h,
              command,
              values.all ? {} : { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) },
            ),
          ),
        );
        if (values.all)
          results.forEach((r, i) => {
            const prefix = (text: string) =>
              text
                .replace(/\n$/, '')
                .split('\n')
                .map((l) => `${hosts[i]}| ${l}`)
                .join('\n');
            if (r.stdout) console.log(prefix(r.stdout));
            if (r.stderr) console.error(prefix(r.stderr));
          });
        return results.find((r) => r.code !== 0)?.code ?? 0;
      } finally {
        await access.close();
      }
    }
    case 'shell': {
      const host = values.args[0];
      if (!host) throw new UserError('shell: usage: shell <host>');
      const access = await openLab();
      let argv: string[];
      try {
        hostNamed(access.lab, host);
        const prompt = `[lvs-lab ${access.lab.name}:${host}] \\w\\$ `;
        argv = await access.transport.interactive(host, `env PS1=${shq(prompt)} bash --norc -i`);
      } finally {
        await access.close();
      }
      return new Promise<number>((resolve) =>
        spawn(argv[0], argv.slice(1), { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? 1)),
      );
    }
    case 'load': {
      // Every number checked before the lab is reached.
      const num = (flag: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        if (!/^\d+$/.test(v))
          throw new UserError(`--${flag}: ${JSON.stringify(v.slice(0, 40))} must be a whole number`);
        return Number(v);
      };
      const options = checkLoadOptions({
        requests: num('requests', values.requests),
        duration: num('duration', values.duration),
        concurrency: num('concurrency', values.concurrency) ?? 4,
        rate: num('rate', values.rate),
        clients: num('clients', values.clients) ?? 1,
        path: values.path ?? '/',
      });
      const access = await openLab();
      try {
        const result = await runLoad(access, options, (n) => {
          if (!values.json) log(`load: ${n} responses so far`);
        });
        console.log(values.json ? JSON.stringify(result, null, 2) : formatLoad(access.lab, result, options.clients));
        return 0;
      } finally {
        await access.close();
      }
    }
    case 'fault': {
      const [host, ...words] = values.args;
      const listing = values.list || host === undefined;
      if (!listing && words.length === 0)
        throw new UserError(
          `fault: usage: fault <host> <fault>, fault <host> clear, fault --list; a fault is one of:\n  ${FAULT_USAGE.join('\n  ')}`,
        );
      const fault = listing ? undefined : parseFault(words); // refused before anything is reached
      const access = await openLab();
      try {
        const power = powerOf(access);
        if (fault) console.log(await applyFault(access, hostNamed(access.lab, host).name, fault, power));
        console.log(formatFaults(access.lab, await faultsInForce(access, power)));
        return 0;
      } finally {
        await access.close();
      }
    }
    case 'observe': {
      const access = await openLab();
      try {
        const faults = await faultsInForce(access, powerOf(access));
        if (faults.length > 0) console.log(`${formatFaults(access.lab, faults)}\n`);
        console.log(formatObservation(access.lab, await observe(access, count(6))));
        return 0;
      } finally {
        await access.close();
      }
    }
    case 'capture': {
      const access = await openLab();
      try {
        const { lab } = access;
        const hosts = values.hosts
          ? values.hosts.split(',').map((h) => h.trim())
          : [lab.client.name, lab.director.name, lab.realservers[0].name];
        for (const h of hosts) hostNamed(lab, h); // an unknown name is refused before any capture starts
        console.log(formatCapture(lab, await capture(access, hosts, count(4), values.out ?? 'captures')));
        return 0;
      } finally {
        await access.close();
      }
    }
    case 'graph': {
      const out = values.out ?? 'lab.svg';
      if (!out.endsWith('.svg')) throw new UserError(`--out: "${out}" must end in .svg (the PNG is written beside it)`);
      // Live MACs when the lab runs; the model's planned ones otherwise.
      const model = values.stack ? (await readStackSettings(values.stack)).lab : await loadModel();
      const access = await openLab().catch((err: unknown) => {
        if (err instanceof UserError) return undefined;
        throw err;
      });
      let macs = new Map<string, string>();
      try {
        if (access) macs = await macsOf(access);
      } finally {
        await access?.close();
      }
      // Loaded here alone: vega and resvg take over a second to import, which every other command would pay.
      const { renderGraph } = await import('../inside/graph.js');
      const { svg, png } = await renderGraph(access?.lab ?? model, macs);
      await writeFile(out, svg);
      await writeFile(out.replace(/\.svg$/, '.png'), png);
      console.log(
        `wrote ${out} and ${out.replace(/\.svg$/, '.png')} (${access ? 'live MACs from the running lab' : 'the lab is not up: MACs as planned'})`,
      );
      return 0;
    }
    case 'plan': {
      const lab = await loadModel();
      // The plan of the testbed the lab would run on: realservers' httpd files differ between shared and own filesystems.
      const tb = testbed === 'auto' ? TESTBEDS.netns : TESTBEDS[testbed];
      console.log(formatPlan(planLab(lab, { httpd: tb.httpdLayout(lab) }), { guards: values.guards }));
      return 0;
    }
    case 'up': {
      const lab = await loadModel();
      log(
        `lab ${lab.name}: ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}, ${lab.realservers.length} realservers`,
      );
      const down = `\`npm run lab -- down${lab.name === REFERENCE_LAB.name ? '' : ` --name ${lab.name}`}\``;
      // Interrupted, a run that built this lab removes it; one that re-applied to a running lab leaves it up.
      const existing = await readState(lab.name);
      const building = !existing;
      if (existing && !existing.starting) await faultsBeforeReapply(lab.name, values.clearFaults);
      const signals = trapInterrupts(log, `${down} removes what is left`);
      const interrupted = async () => {
        if (building) {
          await labDown(lab.name, { log });
          log(`interrupted: removed lab ${lab.name}, which this run had started to build`);
        } else log(`interrupted: lab ${lab.name} was up before this run and stays up`);
        return 130;
      };
      try {
        const { session } = await labUp(lab, {
          testbed,
          log,
          onStep: (o) => {
            if (o.result === 'shown') console.log(o.output.trimEnd().replace(/^/gm, `        ${o.host}| `));
          },
        });
        try {
          if (signals.interrupted) return await interrupted();
          if (values.noVerify) return 0;
          log('verifying');
          const checks = await verifyLab(session);
          if (signals.interrupted) return await interrupted();
          console.log(formatChecks(checks));
          log(`${checks.filter((c) => c.ok).length}/${checks.length} checks passed; ${down} removes the lab`);
          return checks.every((c) => c.ok) ? 0 : 1;
        } finally {
          await session.close();
        }
      } catch (err) {
        // labUp's own failure path has removed what it created; say why it failed.
        if (signals.interrupted) return await interrupted();
        throw err;
      } finally {
        signals.dispose();
      }
    }
    case 'verify': {
      const session = await openLab();
      try {
        // Faults a user made explain the checks they fail: said first.
        const faults = await faultsInForce(session, powerOf(session));
        if (faults.length > 0) console.log(formatFaults(session.lab, faults));
        const checks = await verifyLab(session);
        console.log(formatChecks(checks));
        log(`${checks.filter((c) => c.ok).length}/${checks.length} checks passed`);
        return checks.every((c) => c.ok) ? 0 : 1;
      } finally {
        await session.close();
      }
    }
    case 'status': {
      const { states, unreadable } = await scanStates();
      if (states.length === 0 && unreadable.length === 0) console.log('no labs are up');
      for (const u of unreadable) console.log(`${u.name}: state unreadable (${u.problem}); \`down --name\` sweeps it`);
      for (const s of states) {
        const where = TESTBEDS[s.testbed].describe(s);
        console.log(
          `${s.lab.name}: ${s.lab.forwarding} ${s.lab.service.scheduler} VIP ${s.lab.vip}:${s.lab.service.port}, ${s.lab.realservers.length} realservers; ${where}; ${s.starting ? 'starting (or its start was killed: `up` removes it) since' : 'up since'} ${s.createdAt}`,
        );
        if (!s.starting) console.log(`  ${await faultsLine(s.lab.name)}`);
      }
      return 0;
    }
    case 'down': {
      const lab = await loadModel();
      const removed = await labDown(values.name ?? lab.name, { log, fallback: lab });
      if (!removed) log(`no lab named "${values.name ?? lab.name}" is up; nothing to remove`);
      return 0;
    }
    case 'image': {
      // The vm testbed's image (and the Vagrant box's source), built now if it is not cached.
      const image = await ensureImage(log);
      log(`VM image ready: ${image.dir} (kernel ${image.kernelVersion})`);
      // And the booted lab VM that labs start from (restored in seconds instead of booted).
      if (process.env.LVS_LAB_COLD_BOOT !== '1')
        log(`saved booted VM ready: ${(await ensureSavedVm(image, LAB_VM, log)).dir}`);
      return 0;
    }
    case 'vagrantfile': {
      const lab = await loadModel();
      const state = await readState(values.name ?? lab.name);
      console.log(state?.vagrant ? await previewVagrantfile(state.lab, state.vagrant) : await previewVagrantfile(lab));
      return 0;
    }
    case 'engine': {
      const action = values.args[0];
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

/** Resolves once everything written to `stream` so far has left the process (a pipe's reader may be slow). */
const drained = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

async function exit(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

const debug = process.argv.includes('--debug');

// A refusal (UserError) exits 2, a failure 1; the stack trace is for --debug, not for users.
(async () => main(parseCli(process.argv.slice(2))))().then(exit, async (err) => {
  console.error(debug ? err : `error: ${err instanceof Error ? err.message : String(err)}`);
  await exit(err instanceof UserError ? 2 : 1);
});
