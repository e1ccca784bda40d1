// The benchmark's results: what bench/run.ts measures, what results.json holds, what the chart and table show.

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export interface PhaseTiming extends Spread {
  phase: 'up' | 'verify' | 'redeploy' | 'down';
}

export interface LifecycleResult {
  testbed: string;
  phases: PhaseTiming[];
}

export interface ScaleResult extends Spread {
  realservers: number;
  /** Seconds per realserver beyond the first two, from the smallest to this size. */
  perAddedHost: number;
}

/** What wrk counted as failed: socket errors by kind, and responses that were not 2xx or 3xx. */
export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
  non2xx: number;
}

export interface DataPlaneResult {
  path: string;
  /** Requests wrk completed in the median run. */
  requests: number;
  requestsPerSecond: number;
  /** Requests/s of every run of this path, the median one's figures above. */
  runs?: number[];
  errors?: WrkErrors;
  latencyMs: { p50: number; p90: number; p99: number };
  /**
   * Kernel time (system + irq + softirq) of the whole lab machine during the run: every host of a netns lab shares
   * one kernel, so this is not the director's alone; the IPVS packet counts are.
   */
  kernelCpuSeconds: number;
  ipvsInPkts: number;
  ipvsOutPkts: number;
}

/** The dr-ha pair's failover drill, repeated: the MASTER's link cut while the client requests every 100 ms. */
export interface FailoverResult {
  testbed: string;
  /** VRRP's master down interval for the lab's advert interval: the takeover's theoretical bound. */
  windowSeconds: number;
  takeoverSeconds: Spread;
  failedRequests: Spread;
}

/** A VM's start until its first command runs: restored from the saved booted VM, and booted. */
export interface VmStartResult {
  restore: Spread;
  boot: Spread;
}

/** One scheduler's share of `load` with rs1 200 ms slower: responses per realserver, and what it predicts. */
export interface ShareResult {
  scheduler: string;
  /** The realservers' weights, "3:1". */
  weights: string;
  clients: number;
  requests: number;
  share: Record<string, number>;
  predicted?: Record<string, number>;
}

export interface BenchResults {
  when: string;
  /** The commit measured (`git rev-parse HEAD`), and whether the tree had changes beside it. */
  commit?: string;
  dirty?: boolean;
  machine: { description: string; cores: number; memoryGiB: number; accel: string };
  lifecycle: LifecycleResult[];
  scale: ScaleResult[];
  dataPlane: DataPlaneResult[];
  /** Each scheduler's share per realserver with one realserver slowed. */
  shares?: ShareResult[];
  failover?: FailoverResult;
  vmStart?: VmStartResult;
  /** The Docker engine VM's `engine up` (seconds): a first start (saving its booted state when there is none yet), then
   * a second one, restored, and a third on the running VM (what a user's repeated `engine up` and each docker suite
   * on a running engine pay). */
  engineStart?: { first: number; second: number; running?: number };
  /** The reference lab on one engine VM and split over two (`--only span`). */
  span?: SpanResult[];
}

/** One layout of a Docker lab over engine VMs: `pulumi up`, DR through the VIP (wrk from the client), `destroy`. */
export interface SpanResult {
  layout: string;
  up: Spread;
  requestsPerSecond: Spread;
  destroy: Spread;
}

/** The one-engine and two-engine layouts side by side. */
export function spanLines(span: SpanResult[]): string[] {
  if (span.length === 0) return [];
  const s = (x: Spread, digits = 1) =>
    `${x.median.toFixed(digits)} [${x.min.toFixed(digits)}-${x.max.toFixed(digits)}]`;
  const width = Math.max(...span.map((x) => x.layout.length));
  return [
    '',
    'a Docker lab over engine VMs (median [min-max] of runs)',
    ...span.map(
      (x) =>
        `  ${x.layout.padEnd(width)}  pulumi up ${s(x.up)} s   DR ${s(x.requestsPerSecond, 0)} req/s   destroy ${s(x.destroy)} s`,
    ),
  ];
}

export function spread(runs: number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs };
}

/** wrk's summary: requests/s and the latency distribution (`--latency`), in ms. */
export function parseWrk(text: string): {
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number };
  errors: WrkErrors;
} {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  if (!rps || !requests) throw new Error(`wrk printed no Requests/sec:\n${text}`);
  const ms = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
    if (!m) throw new Error(`wrk printed no ${p}% latency:\n${text}`);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  };
  // wrk prints these two lines only when there were any.
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(requests[1]),
    requestsPerSecond: Number(rps[1]),
    latencyMs: { p50: ms('50'), p90: ms('90'), p99: ms('99') },
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
  };
}

/** All of wrk's errors of a run, one number. */
export const wrkErrorCount = (e: WrkErrors): number => e.connect + e.read + e.write + e.timeout + e.non2xx;

/** Jiffies of system + irq + softirq time from /proc/stat's first line. */
export function kernelJiffies(procStat: string): number {
  const f = procStat.split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f[2] + f[5] + f[6];
}

/** Packets the director's IPVS handled per request, each way: DR sees only the inbound half, NAT both. */
export function directorPacketsPerRequest(d: DataPlaneResult): { in: number; out: number } {
  const per = (n: number) => (d.requests > 0 ? n / d.requests : 0);
  return { in: per(d.ipvsInPkts), out: per(d.ipvsOutPkts) };
}

export function formatTable(r: BenchResults): string {
  const s = (x: number) => x.toFixed(1);
  const out = [`lvs-lab benchmark, ${r.when}, ${r.machine.description}`];
  if (r.vmStart) {
    const v = r.vmStart;
    out.push('', `VM start until its first command (seconds: median [min-max] of ${v.restore.runs.length})`);
    out.push(`  restored from the saved booted VM  ${s(v.restore.median)} [${s(v.restore.min)}-${s(v.restore.max)}]`);
    out.push(`  booted                             ${s(v.boot.median)} [${s(v.boot.min)}-${s(v.boot.max)}]`);
  }
  if (r.engineStart)
    out.push(
      '',
      `Docker engine VM: engine up ${s(r.engineStart.first)} s the first time, ${s(r.engineStart.second)} s restored` +
        (r.engineStart.running === undefined ? '' : `, ${s(r.engineStart.running)} s on the running VM`),
    );
  if (r.lifecycle.length > 0) out.push('', 'lifecycle (seconds: median [min-max] of runs)');
  const testbedWidth = Math.max(...r.lifecycle.map((t) => t.testbed.length));
  for (const t of r.lifecycle)
    out.push(
      `  ${t.testbed.padEnd(testbedWidth)}  ${t.phases.map((p) => `${p.phase} ${s(p.median)} [${s(p.min)}-${s(p.max)}]`).join('   ')}`,
    );
  if (r.scale.length > 0) out.push('', 'scale (netns lab in one machine: network + provisioning, seconds)');
  for (const x of r.scale)
    out.push(
      `  ${String(x.realservers).padStart(3)} realservers: ${s(x.median)} [${s(x.min)}-${s(x.max)}]   ${x.perAddedHost.toFixed(3)} s per added host`,
    );
  if (r.dataPlane.length > 0)
    out.push('', "data plane (wrk through each path, from the client; kernel CPU is the whole lab machine's)");
  for (const d of r.dataPlane) {
    const per = directorPacketsPerRequest(d);
    const runs = d.runs && d.runs.length > 1 ? ` [${d.runs.map((x) => x.toFixed(0)).join(', ')}]` : '';
    const errors = d.errors ? `   errors ${wrkErrorCount(d.errors)}` : '';
    out.push(
      `  ${d.path.padEnd(26)} ${d.requestsPerSecond.toFixed(0).padStart(6)} req/s${runs}${errors}   p50 ${d.latencyMs.p50.toFixed(2)} ms  p90 ${d.latencyMs.p90.toFixed(2)} ms  ` +
        `p99 ${d.latencyMs.p99.toFixed(2)} ms   kernel CPU ${d.kernelCpuSeconds.toFixed(2)} s   ` +
        `director IPVS pkts in/out ${d.ipvsInPkts}/${d.ipvsOutPkts} (${per.in.toFixed(1)}/${per.out.toFixed(1)} per request)`,
    );
  }
  out.push(...ceilingLines(r.dataPlane), ...shareLines(r.shares ?? []), ...spanLines(r.span ?? []));
  if (r.failover) {
    const f = r.failover;
    out.push(
      '',
      `failover (dr-ha on ${f.testbed}: the MASTER's link cut, a request every 100 ms; median [min-max] of ${f.takeoverSeconds.runs.length})`,
      `  takeover ${s(f.takeoverSeconds.median)} s [${s(f.takeoverSeconds.min)}-${s(f.takeoverSeconds.max)}] (VRRP window ${s(f.windowSeconds)} s)   ` +
        `failed requests ${f.failedRequests.median} [${f.failedRequests.min}-${f.failedRequests.max}]`,
    );
  }
  return out.join('\n');
}

/** DR through the VIP against wrk's own ceiling (the client straight to one realserver), as ratios. */
function ceilingLines(d: DataPlaneResult[]): string[] {
  const rate = (path: string) => d.find((x) => x.path === path)?.requestsPerSecond;
  const direct = rate('direct to one realserver');
  if (!direct) return [];
  const ratio = (path: string) => {
    const r = rate(path);
    return r === undefined ? [] : [`  ${path.padEnd(26)} ${((100 * r) / direct).toFixed(0).padStart(4)}% of direct`];
  };
  return [
    '',
    "DR against the load generator's ceiling (direct to one realserver = 100%; target: one realserver >= 90%)",
    ...ratio('DR, one realserver'),
    ...ratio('DR through the VIP'),
  ];
}

/** The share table: each scheduler's responses per realserver with rs1 slowed, beside what it predicts. */
function shareLines(shares: ShareResult[]): string[] {
  if (shares.length === 0) return [];
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`.padStart(4);
  return [
    '',
    'share per realserver with rs1 200 ms slower (load, 8 at a time for 5 s; sh from 4 client addresses)',
    ...shares.map((x) => {
      const total = Object.values(x.share).reduce((a, b) => a + b, 0) || 1;
      const names = Object.keys({ ...x.predicted, ...x.share }).sort();
      const seen = names.map((n) => `${n} ${pct((x.share[n] ?? 0) / total)}`).join('  ');
      const predicted = x.predicted ? names.map((n) => pct(x.predicted![n] ?? 0)).join(' / ') : 'none';
      return `  ${`${x.scheduler} ${x.weights}`.padEnd(10)} ${seen}   (predicted ${predicted}; ${x.requests} requests)`;
    }),
  ];
}
