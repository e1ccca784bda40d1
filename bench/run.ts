// npm run bench [-- --runs N] [--sizes 2,8,16,32] [--no-docker] [--no-vagrant] [--out bench/out]
// Measures a VM's start (restored vs booted), the lab lifecycle on every testbed this machine has (and in the VM
// booted rather than restored), how build cost grows with realservers, and the data plane through DR, NAT and
// straight to a realserver; prints a table, writes results.json and chart.png.
// All load stays inside the labs' namespaces (in the VM where the host has no IPVS).
import { CommandError } from '../model/errors.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { withPreset } from '../model/presets.js';
import { validateLab, type Lab } from '../model/topology.js';
import { applyFault } from '../drive/fault.js';
import { checkLoadOptions, runLoad } from '../drive/load.js';
import { applyPlan } from '../provision/apply.js';
import { takeoverWindowSeconds } from '../provision/keepalived.js';
import { planLab } from '../provision/plan.js';
import { LocalShell, type Shell } from '../provision/shell.js';
import { connectDockerLab, connectStack } from '../docker/engine.js';
import { readStackSettings } from '../model/stack.js';
import { engineDown, engineUp, engineVmRunning } from '../docker/engine-vm.js';
import { lifecycle, type LabSession } from '../lab/lifecycle.js';
import { TESTBEDS } from '../testbed/all.js';
import { NetnsLab } from '../testbed/netns.js';
import { vagrantTestbed } from '../testbed/vagrant/testbed.js';
import { bootMachine, stopMachine, type VmState } from '../machine/machine.js';
import { chooseAccel } from '../machine/qemu.js';
import { failoverDrill, restoreDirector, secondsUntilSoleHolder } from '../verify/failover.js';
import { ipvsStats } from '../verify/probes.js';
import type { LabAccess } from '../provision/transport.js';
import { verifyLab } from '../verify/report.js';
import { teardownOnSignal } from '../lab/interrupt.js';
import { renderPng } from './chart.js';
import {
  formatTable,
  kernelJiffies,
  parseWrk,
  spread,
  wrkErrorCount,
  type BenchResults,
  type DataPlaneResult,
  type FailoverResult,
  type LifecycleResult,
  type PhaseTiming,
  type ScaleResult,
  type ShareResult,
  type SpanResult,
  type VmStartResult,
} from './results.js';
import { kernelHasIpvs } from '../provision/host-needs.js';

const labs = lifecycle(TESTBEDS);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '2,8,16,32' },
    'no-docker': { type: 'boolean', default: false },
    'no-vagrant': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/out' },
    only: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const SIZES = values.sizes.split(',').map(Number);
const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${msg}`);

// What this run created and has not removed yet, for Ctrl-C: the VM-start VM, the docker stack, our engine VM.
const created: {
  vm?: { state: VmState; dir: string };
  dockerStack?: string;
  engine?: boolean;
  /** Engine VMs the spanning rows started (undefined: the first). */
  engines?: Array<string | undefined>;
} = {};

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, (performance.now() - t0) / 1000];
}

async function mustPass(access: LabAccess): Promise<void> {
  const failed = (await verifyLab(access)).filter((c) => !c.ok);
  if (failed.length > 0)
    throw new Error(`verify failed during the benchmark: ${failed.map((c) => `${c.name}: ${c.evidence}`).join('; ')}`);
}

const BENCH = validateLab({ name: 'bench' }, 'bench');
const BENCH_WRR = validateLab(
  { name: 'bench', service: { scheduler: 'wrr' }, realservers: [{ weight: 3 }, { weight: 1 }] },
  'bench',
);

function phases(samples: Record<PhaseTiming['phase'], number[]>): PhaseTiming[] {
  return (Object.keys(samples) as PhaseTiming['phase'][]).map((phase) => ({ phase, ...spread(samples[phase]) }));
}

const LIFECYCLE_LABEL: Record<string, string> = {
  netns: 'netns on host',
  vm: 'netns in VM',
  vagrant: 'Vagrant (4 machines)',
};

/** The vm testbed's VM started RUNS times each way: restored from the saved booted VM, and booted. */
async function vmStart(): Promise<VmStartResult> {
  const samples = { restore: [] as number[], boot: [] as number[] };
  const dir = await mkdtemp(join(os.tmpdir(), 'lvs-lab-bench-vm-'));
  try {
    for (let i = 0; i < RUNS; i++)
      for (const way of ['restore', 'boot'] as const) {
        let vm: VmState | undefined;
        const [shell, t] = await timed(async () => {
          const shell = await bootMachine(
            'lvs-lab-bench-vm',
            dir,
            () => {},
            (v) => Promise.resolve(void (created.vm = { state: (vm = v), dir })),
            undefined,
            { coldBoot: way === 'boot' },
          );
          await shell.exec('true');
          return shell;
        });
        await shell.close();
        if (vm) await stopMachine(vm, dir);
        created.vm = undefined;
        if (way === 'restore' && !vm?.restored)
          throw new Error('the benchmark VM was booted, not restored: no usable saved state');
        samples[way].push(t);
        log(`VM start run ${i + 1}/${RUNS}: ${way} ${t.toFixed(1)} s`);
      }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { restore: spread(samples.restore), boot: spread(samples.boot) };
}

/** up (create + provision), verify, redeploy (rr -> wrr in place), down, on a testbed of the lab lifecycle. */
async function labLifecycle(testbed: string, label = LIFECYCLE_LABEL[testbed]): Promise<LifecycleResult> {
  const samples = { up: [] as number[], verify: [] as number[], redeploy: [] as number[], down: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    await labs.down(BENCH.name);
    const [{ session }, up] = await timed(() => labs.up(BENCH, { testbed }));
    const [, verify] = await timed(() => mustPass(session));
    await session.close();
    const [{ session: again }, redeploy] = await timed(() => labs.up(BENCH_WRR, { testbed }));
    await again.close();
    const [, down] = await timed(() => labs.down(BENCH.name));
    Object.entries({ up, verify, redeploy, down }).forEach(([k, v]) => samples[k as keyof typeof samples].push(v));
    log(
      `${testbed} run ${i + 1}/${RUNS}: up ${up.toFixed(1)} s, verify ${verify.toFixed(1)} s, redeploy ${redeploy.toFixed(1)} s, down ${down.toFixed(1)} s`,
    );
  }
  return { testbed: label, phases: phases(samples) };
}

const pulumi = (args: string[]) => $({ quiet: true })`bash infra/pulumi.sh ${args}`;

/** The same phases for a Docker lab through Pulumi: up, verify, a scheduler change by `pulumi up`, destroy. */
async function dockerLifecycle(engine: 'local' | 'vm'): Promise<LifecycleResult> {
  const stack = 'bench';
  const samples = { up: [] as number[], verify: [] as number[], redeploy: [] as number[], down: [] as number[] };
  const config = (lab: object) => pulumi(['config', 'set', '--stack', stack, 'lvs-lab:lab', JSON.stringify(lab)]);
  await pulumi(['stack', 'select', '--create', stack, '--non-interactive']);
  created.dockerStack = stack;
  await pulumi(['config', 'set', '--stack', stack, 'lvs-lab:engine', engine]);
  try {
    for (let i = 0; i < RUNS; i++) {
      await config({ name: BENCH.name });
      const [, up] = await timed(() =>
        pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', stack]),
      );
      const access = await connectDockerLab(BENCH, engine);
      const [, verify] = await timed(() => mustPass(access));
      await access.close();
      await config({ name: BENCH.name, service: { scheduler: 'wrr' }, realservers: [{ weight: 3 }, { weight: 1 }] });
      const [, redeploy] = await timed(() =>
        pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', stack]),
      );
      const [, down] = await timed(() =>
        pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', stack]),
      );
      Object.entries({ up, verify, redeploy, down }).forEach(([k, v]) => samples[k as keyof typeof samples].push(v));
      log(
        `docker run ${i + 1}/${RUNS}: up ${up.toFixed(1)} s, verify ${verify.toFixed(1)} s, redeploy ${redeploy.toFixed(1)} s, destroy ${down.toFixed(1)} s`,
      );
    }
  } finally {
    await removeStack(stack);
  }
  return { testbed: `Docker (${engine} engine)`, phases: phases(samples) };
}

interface SpanLayout {
  label: string;
  engines?: Record<string, string>;
  placement?: Record<string, string>;
}

const SPAN_LAYOUTS: SpanLayout[] = [
  { label: 'one engine VM' },
  { label: 'two engine VMs (rs on b)', engines: { a: 'vm', b: 'vm:b' }, placement: { rs1: 'b', rs2: 'b' } },
];

/** One layout of the reference lab on engine VMs, RUNS times: `pulumi up`, DR through the VIP with wrk, `destroy`. */
async function spanRun(layout: SpanLayout): Promise<SpanResult> {
  const stack = 'bench';
  const set = (key: string, value: string) => pulumi(['config', 'set', '--stack', stack, `lvs-lab:${key}`, value]);
  await pulumi(['stack', 'select', '--create', stack, '--non-interactive']);
  created.dockerStack = stack;
  await set('lab', JSON.stringify({ name: BENCH.name }));
  for (const key of ['engine', 'engines', 'placement'])
    await $({ quiet: true, nothrow: true })`bash infra/pulumi.sh config rm --stack ${stack} ${`lvs-lab:${key}`}`;
  if (layout.engines) {
    await set('engines', JSON.stringify(layout.engines));
    await set('placement', JSON.stringify(layout.placement));
  } else await set('engine', 'vm');
  // The stack as the CLI reads it: its engines and every host's place, validated by the model.
  const settings = await readStackSettings(stack);
  const samples = { up: [] as number[], rps: [] as number[], destroy: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const [, up] = await timed(() => pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', stack]));
    const access = await connectStack(settings);
    try {
      const url = `http://${BENCH.vip}/`;
      const res = await access.transport.run(BENCH.client.name, `wrk -t2 -c16 -d10s --latency ${url}`, {
        timeoutMs: 60_000,
      });
      if (res.code !== 0) throw new CommandError(BENCH.client.name, `wrk ${url}`, res.code, res.stderr, 'load');
      samples.rps.push(parseWrk(res.stdout).requestsPerSecond);
    } finally {
      await access.close();
    }
    const [, destroy] = await timed(() =>
      pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', stack]),
    );
    samples.up.push(up);
    samples.destroy.push(destroy);
    log(
      `${layout.label}, run ${i + 1}/${RUNS}: up ${up.toFixed(1)} s, ${samples.rps.at(-1)!.toFixed(0)} req/s, destroy ${destroy.toFixed(1)} s`,
    );
  }
  await removeStack(stack);
  return {
    layout: layout.label,
    up: spread(samples.up),
    requestsPerSecond: spread(samples.rps),
    destroy: spread(samples.destroy),
  };
}

/** The reference lab on one engine VM and split over two, in one run (`--only span`); engine VMs it started stop. */
async function spanRows(results: BenchResults): Promise<void> {
  const ours: Array<string | undefined> = (created.engines = []);
  try {
    for (const name of [undefined, 'b']) {
      if (!(await engineVmRunning(name))) ours.push(name);
      await engineUp(log, name);
    }
    results.span = [];
    for (const layout of SPAN_LAYOUTS) results.span.push(await spanRun(layout));
  } finally {
    if (created.dockerStack) await removeStack(created.dockerStack);
    for (const name of ours) await engineDown(log, name);
    created.engines = undefined;
  }
}

/** A session whose hosts share one machine (netns, vm): the side labs below are built on it. */
type OnMachine = LabSession & { readonly machine: Shell };
function assertOnMachine(s: LabSession): asserts s is OnMachine {
  if (!s.machine) throw new Error(`the ${s.testbed} testbed has no machine shared by its hosts`);
}

/** Builds and provisions labs of each size beside `s`'s lab on its machine, RUNS times each. */
async function scale(s: OnMachine): Promise<ScaleResult[]> {
  const medians = new Map<number, ReturnType<typeof spread>>();
  for (const n of SIZES) {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const lab = validateLab({ name: `bs${n}`, realservers: n }, 'bench');
      const side = new NetnsLab(s.machine, lab);
      await side.teardown();
      const [, t] = await timed(async () => {
        await side.build();
        await applyPlan(planLab(lab, { httpd: side.httpd }), side.transport);
      });
      await side.teardown();
      runs.push(t);
    }
    medians.set(n, spread(runs));
    log(`scale: ${n} realservers built and provisioned in ${medians.get(n)!.median.toFixed(1)} s (median of ${RUNS})`);
  }
  const base = SIZES[0];
  return SIZES.map((n) => ({
    realservers: n,
    ...medians.get(n)!,
    perAddedHost: n === base ? 0 : (medians.get(n)!.median - medians.get(base)!.median) / (n - base),
  }));
}

/** wrk from `access`'s client to `url`, with the machine's kernel time and the director's IPVS packet counts. */
async function load(s: OnMachine, access: LabAccess, path: string, url: string): Promise<DataPlaneResult> {
  const hz = Number((await s.machine.exec('getconf CLK_TCK')).stdout.trim()) || 100;
  const stat = async () => kernelJiffies((await s.machine.exec('cat /proc/stat')).stdout);
  const [j0, v0] = [await stat(), await ipvsStats(access)];
  const res = await access.transport.run(access.lab.client.name, `wrk -t2 -c16 -d10s --latency ${url}`, {
    timeoutMs: 60_000,
  });
  if (res.code !== 0) throw new CommandError(access.lab.client.name, `wrk ${url}`, res.code, res.stderr, 'load');
  const [j1, v1] = [await stat(), await ipvsStats(access)];
  const wrk = parseWrk(res.stdout);
  log(`data plane: ${path}: ${wrk.requestsPerSecond.toFixed(0)} req/s, ${wrkErrorCount(wrk.errors)} errors`);
  return {
    path,
    ...wrk,
    kernelCpuSeconds: (j1 - j0) / hz,
    ipvsInPkts: v1.inPkts - v0.inPkts,
    ipvsOutPkts: v1.outPkts - v0.outPkts,
  };
}

/** `load` RUNS times: the median run by requests/s, with every run's figure beside it. */
async function loadRuns(s: OnMachine, access: LabAccess, path: string, url: string): Promise<DataPlaneResult> {
  const runs: DataPlaneResult[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await load(s, access, path, url));
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return { ...sorted[Math.floor(sorted.length / 2)], runs: runs.map((r) => r.requestsPerSecond) };
}

/** A lab beside `s`'s on its machine: built, provisioned, handed to `use`, then removed whatever happens. */
async function withSideLab<T>(s: OnMachine, lab: Lab, use: (access: LabAccess) => Promise<T>): Promise<T> {
  const side = new NetnsLab(s.machine, lab);
  await side.teardown();
  await side.build();
  try {
    await applyPlan(planLab(lab, { httpd: side.httpd }), side.transport);
    return await use({ lab, transport: side.transport, httpd: side.httpd });
  } finally {
    await side.teardown();
  }
}

/** wrk's ceiling (the client straight to one realserver) beside DR through the VIP with one and two realservers, and
 * NAT: measured side by side in one run, on one machine. */
async function dataPlane(s: OnMachine): Promise<DataPlaneResult[]> {
  const one = validateLab({ name: 'bone', realservers: 1 }, 'bench');
  const nat = withPreset('nat-rr', { name: 'bnat' }, 'bench');
  return [
    await loadRuns(s, s, 'direct to one realserver', `http://${s.lab.realservers[0].ip}/`),
    await withSideLab(s, one, (a) => loadRuns(s, a, 'DR, one realserver', `http://${one.vip}/`)),
    await loadRuns(s, s, 'DR through the VIP', `http://${s.lab.vip}/`),
    await withSideLab(s, nat, (a) => loadRuns(s, a, 'NAT through the VIP', `http://${nat.vip}/`)),
  ];
}

/** The schedulers the share table compares, as their presets set them (weights 3:1 and 2:1 for wrr and wlc). */
const SHARE_PRESETS = ['dr-rr', 'dr-wrr', 'dr-lc', 'dr-wlc', 'dr-sh'] as const;

/** Each scheduler's share per realserver with rs1 200 ms slower, under `load` (8 at a time, 5 s; sh from 4 clients). */
async function shares(s: OnMachine): Promise<ShareResult[]> {
  return withSideLab(s, withPreset('dr-rr', { name: 'bshare' }, 'bench'), async (a) => {
    await applyFault(a, 'rs1', { kind: 'netem', netem: { delay: '200ms' } });
    const out: ShareResult[] = [];
    for (const preset of SHARE_PRESETS) {
      const lab = withPreset(preset, { name: 'bshare' }, 'bench');
      await applyPlan(planLab(lab, { httpd: a.httpd }), a.transport); // in place: scheduler and weights
      const clients = lab.service.scheduler === 'sh' ? 4 : 1;
      const r = await runLoad({ ...a, lab }, checkLoadOptions({ duration: 5, concurrency: 8, clients, path: '/' }));
      const weights = lab.realservers.map((x) => x.weight).join(':');
      out.push({
        scheduler: lab.service.scheduler,
        weights,
        clients,
        requests: r.requests,
        share: r.share,
        predicted: r.predicted,
      });
      log(`shares: ${lab.service.scheduler} ${weights}: ${JSON.stringify(r.share)} of ${r.requests}`);
    }
    return out;
  });
}

/** The failover drill on a dr-ha lab beside `s`'s: takeover time and failed requests, RUNS times (each with failback). */
async function failover(s: OnMachine): Promise<FailoverResult> {
  const pair = withPreset('dr-ha', { name: 'bha' }, 'bench');
  const window = takeoverWindowSeconds(pair.ha!);
  const [takeovers, failed] = [[] as number[], [] as number[]];
  await withSideLab(s, pair, async (access) => {
    for (let i = 0; i < Math.max(RUNS, 3); i++) {
      const drill = await failoverDrill(access, window + 10);
      await restoreDirector(access, drill.from);
      if (drill.takeoverSeconds === undefined)
        throw new Error(`failover: ${drill.to} did not take the VIP within ${window + 10} s`);
      if ((await secondsUntilSoleHolder(access, pair.director.name, window + 10)) === undefined)
        throw new Error('failover: no failback');
      takeovers.push(drill.takeoverSeconds);
      failed.push(drill.failed);
      log(
        `failover: takeover in ${drill.takeoverSeconds.toFixed(1)} s (VRRP window ${window.toFixed(1)} s), ${drill.failed} of ${drill.requests.length} requests failed`,
      );
    }
  });
  return {
    testbed: LIFECYCLE_LABEL[s.testbed],
    windowSeconds: window,
    takeoverSeconds: spread(takeovers),
    failedRequests: spread(failed),
  };
}

/** A stack of the benchmark's, destroyed and removed whatever state it is in. */
async function removeStack(stack: string): Promise<void> {
  await $({
    quiet: true,
    nothrow: true,
  })`bash infra/pulumi.sh destroy --yes --skip-preview --non-interactive --stack ${stack}`;
  await $({ quiet: true, nothrow: true })`bash infra/pulumi.sh stack rm --yes --force --non-interactive ${stack}`;
  created.dockerStack = undefined;
}

/** On Ctrl-C, what the benchmark created is removed before it exits. */
function trapTeardown(): void {
  teardownOnSignal(
    "the benchmark's labs",
    async () => {
      if (created.vm) await stopMachine(created.vm.state, created.vm.dir);
      await labs.down(BENCH.name, { log });
      if (created.dockerStack) await removeStack(created.dockerStack);
      if (created.engine) await engineDown(log);
      for (const name of created.engines ?? []) await engineDown(log, name);
    },
    log,
  );
}

/** The results' frame: when, which commit, which machine. */
async function newResults(hostIpvs: boolean): Promise<BenchResults> {
  const accel = chooseAccel().name;
  const git = async (args: string[]) => (await $({ quiet: true, nothrow: true })`git ${args}`).stdout.trim();
  return {
    when: new Date().toISOString(),
    commit: (await git(['rev-parse', 'HEAD'])) || undefined,
    dirty: (await git(['status', '--porcelain'])) !== '',
    machine: {
      description: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model.trim()}, ${hostIpvs ? 'host kernel with IPVS' : `no IPVS in the host kernel: labs in a VM (${accel})`}`,
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      accel,
    },
    lifecycle: [],
    scale: [],
    dataPlane: [],
  };
}

/** The Docker lab's lifecycle row, on this host's engine or the engine VM (started, restored and reused, timed). */
async function dockerRows(results: BenchResults, hostIpvs: boolean): Promise<void> {
  const dockerLocal = hostIpvs && (await $({ quiet: true, nothrow: true })`docker version`).exitCode === 0;
  const ownEngine = !dockerLocal && !(await engineVmRunning());
  created.engine = ownEngine;
  if (!dockerLocal) {
    // Three times when the engine VM is ours: then restored from its saved booted state, then on the running VM.
    const [, first] = await timed(() => engineUp(log));
    let again = '';
    if (ownEngine) {
      await engineDown(log);
      const [, second] = await timed(() => engineUp(log));
      const [, running] = await timed(() => engineUp(log));
      results.engineStart = { first, second, running };
      again = `, ${second.toFixed(1)} s restored, ${running.toFixed(1)} s on the running VM`;
    }
    log(`engine VM ready in ${first.toFixed(1)} s${again}`);
  }
  try {
    results.lifecycle.push(await dockerLifecycle(dockerLocal ? 'local' : 'vm'));
  } finally {
    if (ownEngine) await engineDown(log);
  }
}

/** The lifecycle of each testbed here: the VM's start, netns and vm labs, the vm booted cold. */
async function lifecycleRows(results: BenchResults, testbeds: string[]): Promise<void> {
  results.vmStart = await vmStart();
  for (const t of testbeds) results.lifecycle.push(await labLifecycle(t));
  // Before the saved booted VM: the same lifecycle with the VM booted each time.
  process.env.LVS_LAB_COLD_BOOT = '1';
  try {
    results.lifecycle.push(await labLifecycle('vm', 'netns in VM, booted (no saved VM)'));
  } finally {
    delete process.env.LVS_LAB_COLD_BOOT;
  }
}

/** Scale, data plane, shares and failover on the fastest testbed here, in one machine (`--only data`: the middle two). */
async function machineRows(results: BenchResults, testbed: string, dataOnly: boolean): Promise<void> {
  log(`${dataOnly ? '' : 'scale, '}data plane and shares on the ${testbed} testbed`);
  const { session } = await labs.up(BENCH, { testbed });
  try {
    assertOnMachine(session);
    if (!dataOnly) results.scale = await scale(session);
    results.dataPlane = await dataPlane(session);
    results.shares = await shares(session);
    if (!dataOnly) results.failover = await failover(session);
  } finally {
    await session.close();
    await labs.down(BENCH.name);
  }
}

async function main() {
  trapTeardown();
  const hostIpvs = await kernelHasIpvs(new LocalShell());
  const testbeds: string[] = hostIpvs ? ['netns', 'vm'] : ['vm'];
  const results = await newResults(hostIpvs);
  const dataOnly = values.only === 'data';
  if (values.only !== undefined && !dataOnly && values.only !== 'span')
    throw new Error(`--only: "${values.only}" is not data or span`);
  if (values.only === 'span') await spanRows(results);
  else await everyRow(results, testbeds, hostIpvs, dataOnly);
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'results.json'), JSON.stringify(results, null, 2));
  await writeFile(join(values.out, 'chart.png'), await renderPng(results));
  console.log(
    `\n${formatTable(results)}\n\nwrote ${join(values.out, 'results.json')} and ${join(values.out, 'chart.png')}`,
  );
}

/** Every row but the spanning one: lifecycles, the machine's own, Docker and Vagrant (`--only data`: the data plane). */
async function everyRow(results: BenchResults, testbeds: string[], hostIpvs: boolean, dataOnly: boolean) {
  if (!dataOnly) await lifecycleRows(results, testbeds);
  await machineRows(results, testbeds[0], dataOnly);
  if (!values['no-docker'] && !dataOnly) await dockerRows(results, hostIpvs);
  if (!values['no-vagrant'] && !dataOnly) {
    const problem = await vagrantTestbed.checkHost(BENCH).then(
      () => undefined,
      (e: Error) => e.message,
    );
    if (problem) log(`no Vagrant row: ${problem}`);
    else results.lifecycle.push(await labLifecycle('vagrant'));
  }
}

main().catch(async (err) => {
  console.error(err);
  await labs.down(BENCH.name).catch(() => {});
  process.exit(1);
});
