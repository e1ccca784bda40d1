// Load on a running lab's VIP from its client, bounded in count and time: wrk with a Lua script that counts the
// response bodies (each names its realserver) for one client address, and for several (sh, persistence) one curl
// loop per source address bound with --interface. Every request is a fresh connection (Connection: close), because
// IPVS schedules connections, not requests. What it reports is measured: bodies, statuses, the director's table.
import { UserError } from '../model/errors.js';
import { ipToNumber, numberToIp } from '../model/addressing.js';
import ipaddr from 'ipaddr.js';
import { URL_PATH, URL_PATH_RULE } from '../model/checks.js';
import { directorsOf, shown, type Lab } from '../model/topology.js';
import { shq } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { must, scratchFiles, scratchOf } from '../verify/probes.js';

export interface LoadOptions {
  requests?: number;
  duration?: number;
  concurrency: number;
  /** Requests per second, all connections together; none: as fast as they go. */
  rate?: number;
  clients: number;
  path: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rate: number;
  errors: { refused: number; reset: number; timeout: number; status: Record<string, number>; other: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Responses per realserver name (by the body `from <RIP>`), and what answered otherwise. */
  share: Record<string, number>;
  /** The share the scheduler and weights lead one to expect, where they say one (fractions). */
  predicted?: Record<string, number>;
  predictedNote: string;
  /** With several client addresses: the realservers each address reached. */
  byClient?: Record<string, string[]>;
  /** The director's connection table after the run (`ipvsadm -lnc`), by state. */
  connections: Record<string, number>;
}

export const MAX_REQUESTS = 100_000;
export const MAX_SECONDS = 300;

/** Checks the numbers a user gave, before anything runs. */
export function checkLoadOptions(o: LoadOptions): LoadOptions {
  const whole = (flag: string, v: number | undefined, min: number, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max))
      throw new UserError(`--${flag}: ${v} must be a whole number from ${min} to ${max}`);
  };
  whole('requests', o.requests, 1, MAX_REQUESTS);
  whole('duration', o.duration, 1, MAX_SECONDS);
  whole('concurrency', o.concurrency, 1, 256);
  whole('rate', o.rate, 1, 100_000);
  whole('clients', o.clients, 1, 64);
  if (o.requests !== undefined && o.duration !== undefined)
    throw new UserError('--requests and --duration: give one (a count, or seconds)');
  if (!URL_PATH.test(o.path)) throw new UserError(`--path: ${shown(o.path)} ${URL_PATH_RULE}`);
  return o.requests === undefined && o.duration === undefined ? { ...o, requests: 100 } : o;
}

/** What rr, wrr and the connection schedulers lead one to expect of fresh connections from one client. */
export function predictedShare(lab: Lab): { share?: Record<string, number>; note: string } {
  const live = lab.realservers.filter((r) => r.weight > 0);
  const total = live.reduce((n, r) => n + r.weight, 0);
  const even = Object.fromEntries(live.map((r) => [r.name, 1 / live.length]));
  const weighted = Object.fromEntries(live.map((r) => [r.name, r.weight / total]));
  const s = lab.service.scheduler;
  if (lab.service.persistence) return { note: 'persistence: each client address stays with one realserver' };
  if (s === 'rr') return { share: even, note: 'rr: an equal share each' };
  if (s === 'wrr') return { share: weighted, note: 'wrr: a share in proportion to the weights' };
  if (['lc', 'sed', 'nq'].includes(s))
    return {
      share: s === 'lc' ? even : weighted,
      note: `${s}: by active connections; equal realservers, equal shares`,
    };
  if (s === 'wlc') return { share: weighted, note: 'wlc: connections in proportion to the weights' };
  if (['sh', 'dh', 'mh'].includes(s)) return { note: `${s}: one client address, one realserver (which one: the hash)` };
  return { note: `${s}: no simple prediction` };
}

/** The client's extra source addresses for --clients K: free addresses counted down from the top of the subnet. */
export function clientAddresses(lab: Lab, k: number): string[] {
  const subnet = lab.forwarding === 'nat' ? lab.outside!.subnet : lab.subnet;
  const top = ipToNumber(ipaddr.IPv4.broadcastAddressFromCIDR(subnet).toString()) - 1;
  const used = new Set([
    lab.vip,
    lab.client.ip,
    ...directorsOf(lab).map((d) => d.ip),
    ...lab.realservers.map((r) => r.ip),
  ]);
  if (lab.outside) used.add(lab.outside.directorIp);
  const extra: string[] = [];
  for (let n = top; extra.length < k - 1 && n > top - 4096; n--)
    if (!used.has(numberToIp(n))) extra.push(numberToIp(n));
  if (extra.length < k - 1) throw new UserError(`--clients: ${k} client addresses do not fit in ${subnet}`);
  return [lab.client.ip, ...extra];
}

// wrk's script: fresh connections, the bodies counted per thread and printed whole at the end, a progress line a
// second from the first thread, at most `limit` responses counted per thread, requests spaced for a rate.
const WRK_LUA = `
local threads = {}
function setup(thread) table.insert(threads, thread) thread:set("id", #threads) end
function init(args)
  counts, n, limit, gap, last, first = {}, 0, tonumber(args[1]) or 0, tonumber(args[2]) or 0, os.time(), (id == 1)
  wrk.headers["Connection"] = "close"
end
function delay() return gap end
function response(status, headers, body)
  if limit > 0 and n >= limit then wrk.thread:stop() return end
  n = n + 1
  local key = status .. " " .. (body or ""):gsub("%s+$", "")
  counts[key] = (counts[key] or 0) + 1
  if first and os.time() ~= last then last = os.time() io.write("#lvs-lab-progress ", n, "\\n") io.flush() end
  if limit > 0 and n >= limit then io.write("#lvs-lab-finished\\n") io.flush() wrk.thread:stop() end
end
function done(summary, latency, requests)
  io.write("#lvs-lab-bodies\\n")
  for _, t in ipairs(threads) do for k, v in pairs(t:get("counts")) do io.write(k, "\\t", v, "\\n") end end
  local e = summary.errors
  io.write(string.format("#lvs-lab-summary %d %d %d %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

/** wrk's threads: one per 8 connections, at most 4 (thread 1's progress count is multiplied by them). */
const wrkThreads = (o: LoadOptions) => Math.max(1, Math.min(4, Math.ceil(o.concurrency / 8)));

/** The wrk command on the client: one thread per 8 connections, bounded by its duration and by `timeout`. */
function wrkCommand(url: string, o: LoadOptions, file: string): string {
  const threads = wrkThreads(o);
  const perThread = o.requests ? Math.ceil(o.requests / threads) : 0;
  const seconds = o.duration ?? Math.min(MAX_SECONDS, 10 + Math.ceil(o.requests! / 5));
  const gap = o.rate ? Math.round((1000 * o.concurrency) / o.rate) : 0;
  // wrk waits out its duration even when every thread has stopped: once each thread says it counted its share, it
  // gets SIGINT, on which wrk ends at once with its summary. timeout bounds it whatever happens.
  const wrk =
    `timeout -s INT ${seconds + 15} wrk -t${threads} -c${o.concurrency} -d${seconds}s --timeout 2s ` +
    `-s ${file}.lua ${shq(url)} -- ${perThread} ${gap}`;
  return (
    `printf '%s' ${shq(WRK_LUA)} > ${file}.lua && { ${wrk} & echo $! > ${file}.pid; wait $!; echo "#lvs-lab-exit $?"; } | ` +
    `{ f=0; while IFS= read -r l; do printf '%s\\n' "$l"; case $l in '#lvs-lab-finished'*) f=$((f+1)); ` +
    `[ $f -ge ${threads} ] && pkill -INT -P "$(cat ${file}.pid)" wrk;; esac; done; }`
  );
}

interface Tally {
  bodies: Map<string, number>;
  requests: number;
  seconds: number;
  errors: LoadResult['errors'];
  latencyMs: LoadResult['latencyMs'];
  byClient?: Record<string, string[]>;
}

const noErrors = (): LoadResult['errors'] => ({ refused: 0, reset: 0, timeout: 0, status: {}, other: 0 });

/** wrk's lines: "<status> <body>\t<count>" after #lvs-lab-bodies, then its summary. */
export function parseWrkRun(out: string): Tally {
  const bodies = new Map<string, number>();
  const errors = noErrors();
  const [, after = ''] = out.split('#lvs-lab-bodies\n');
  for (const line of after.split('\n')) {
    const m = /^(\d{3}) (.*)\t(\d+)$/.exec(line);
    if (!m) continue;
    if (m[1] !== '200') errors.status[m[1]] = (errors.status[m[1]] ?? 0) + Number(m[3]);
    else bodies.set(m[2], (bodies.get(m[2]) ?? 0) + Number(m[3]));
  }
  const sum = /^#lvs-lab-summary (.+)$/m.exec(out)?.[1].split(' ').map(Number);
  if (!sum) throw new Error(`wrk printed no summary:\n${out.slice(-1000)}`);
  const [, micros, connect, read, write, , timeout, p50, p90, p99, max] = sum;
  Object.assign(errors, { refused: connect, reset: read + write, timeout });
  const answered = [...bodies.values()].reduce((a, b) => a + b, 0);
  const statusCount = Object.values(errors.status).reduce((a, b) => a + b, 0);
  return {
    bodies,
    requests: answered + statusCount,
    seconds: micros / 1e6,
    errors,
    latencyMs: { p50: p50 / 1000, p90: p90 / 1000, p99: p99 / 1000, max: max / 1000 },
  };
}

/** curl's lines: "<address>\t<body>\t<status>\t<seconds>\t<exit code>". */
export function parseCurlRun(out: string, seconds: number): Tally {
  const bodies = new Map<string, number>();
  const errors = noErrors();
  const times: number[] = [];
  const byClient: Record<string, Set<string>> = {};
  let requests = 0;
  for (const line of out.split('\x1e')) {
    const f = line.replace(/\n/g, '').split('\t');
    if (f.length !== 5) continue;
    const [addr, body, status, time, exit] = f;
    requests++;
    times.push(Number(time) * 1000);
    if (exit === '7') errors.refused++;
    else if (exit === '52' || exit === '56') errors.reset++;
    else if (exit === '28') errors.timeout++;
    else if (exit !== '0') errors.other++;
    else if (status !== '200') errors.status[status] = (errors.status[status] ?? 0) + 1;
    else {
      bodies.set(body, (bodies.get(body) ?? 0) + 1);
      (byClient[addr] ??= new Set()).add(body);
    }
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? 0;
  return {
    bodies,
    requests,
    seconds,
    errors,
    latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: times.at(-1) ?? 0 },
    byClient: Object.fromEntries(Object.entries(byClient).map(([k, v]) => [k, [...v].sort()])),
  };
}

/** One curl loop per client address, side by side, each its share of the requests (or until the deadline). */
function curlCommand(url: string, o: LoadOptions, addresses: string[]): string {
  const each = o.requests ? Math.ceil(o.requests / addresses.length) : 1_000_000;
  const until = o.duration ? `$(($(date +%s) + ${o.duration}))` : '$(($(date +%s) + 300))';
  const pause = o.rate ? (addresses.length / o.rate).toFixed(3) : '0';
  const loop = (addr: string) =>
    `(end=${until}; i=0; while [ $i -lt ${each} ] && [ $(date +%s) -lt $end ]; do i=$((i+1)); ` +
    `r=$(curl -s --interface ${addr} --max-time 2 -H 'Connection: close' -w '\t%{http_code}\t%{time_total}' ${shq(url)}); ` +
    `printf '%s\\t%s\\t%s\\036' ${addr} "$r" $?; sleep ${pause}; done) &`;
  return `${addresses.map(loop).join('\n')}\nwait`;
}

/** The director's connection table by state (`ipvsadm -lnc`), on the directors holding the VIP or not. */
async function connectionStates(access: LabAccess): Promise<Record<string, number>> {
  const states: Record<string, number> = {};
  for (const d of directorsOf(access.lab)) {
    const out = await must(access, d.name, 'ipvsadm -lnc 2>/dev/null || true');
    for (const m of out.matchAll(/^\S+\s+\S+\s+(\S+)\s+\d+\.\d+\.\d+\.\d+:\d+/gm))
      states[m[1]] = (states[m[1]] ?? 0) + 1;
  }
  return states;
}

/** Runs the load from the lab's client; `progress` gets the responses counted so far, about once a second. */
export async function runLoad(
  access: LabAccess,
  options: LoadOptions,
  progress?: (done: number) => void,
): Promise<LoadResult> {
  const o = checkLoadOptions(options);
  const { lab } = access;
  const url = `http://${lab.vip}${lab.service.port === 80 ? '' : `:${lab.service.port}`}${o.path}`;
  const client = lab.client.name;
  let tally: Tally;
  if (o.clients === 1) {
    const { dir, file } = scratchOf(await must(access, client, `${scratchFiles('load')} && echo $d`));
    try {
      const res = await access.transport.run(client, wrkCommand(url, o, file), {
        timeoutMs: (MAX_SECONDS + 60) * 1000,
        onStdout: (chunk) => {
          for (const m of String(chunk).matchAll(/#lvs-lab-progress (\d+)/g)) progress?.(Number(m[1]) * wrkThreads(o));
        },
      });
      if (res.code !== 0) throw new Error(`${client}: wrk failed (exit ${res.code}): ${res.stderr.trim().slice(-500)}`);
      tally = parseWrkRun(res.stdout);
    } finally {
      await access.transport.run(client, `rm -rf ${dir}`);
    }
  } else tally = await curlLoad(access, url, o);
  return summarise(lab, tally, await connectionStates(access));
}

/** --clients K: K-1 extra addresses on the client's lab interface for the run, one curl loop each. */
async function curlLoad(access: LabAccess, url: string, o: LoadOptions): Promise<Tally> {
  const { lab } = access;
  const addresses = clientAddresses(lab, o.clients);
  const prefix = lab.forwarding === 'nat' ? lab.outsidePrefixLength! : lab.prefixLength;
  const extra = addresses.slice(1);
  const add = extra.map((ip) => `ip addr add ${ip}/${prefix} dev eth0`).join(' && ');
  const del = extra.map((ip) => `ip addr del ${ip}/${prefix} dev eth0 2>/dev/null`).join('; ');
  await must(access, lab.client.name, add);
  try {
    const t0 = Date.now();
    const res = await access.transport.run(lab.client.name, curlCommand(url, o, addresses), {
      timeoutMs: (MAX_SECONDS + 60) * 1000,
    });
    return parseCurlRun(res.stdout, (Date.now() - t0) / 1000);
  } finally {
    await access.transport.run(lab.client.name, `${del}; true`);
  }
}

function summarise(lab: Lab, t: Tally, connections: Record<string, number>): LoadResult {
  const byIp = new Map(lab.realservers.map((r) => [`from ${r.ip}`, r.name]));
  const share: Record<string, number> = Object.fromEntries(lab.realservers.map((r) => [r.name, 0]));
  for (const [body, n] of t.bodies) {
    const name = byIp.get(body) ?? `other: ${body.slice(0, 40)}`;
    share[name] = (share[name] ?? 0) + n;
  }
  const predicted = predictedShare(lab);
  const byClient = t.byClient
    ? Object.fromEntries(Object.entries(t.byClient).map(([ip, bodies]) => [ip, bodies.map((b) => byIp.get(b) ?? b)]))
    : undefined;
  return {
    requests: t.requests,
    seconds: t.seconds,
    rate: t.seconds > 0 ? t.requests / t.seconds : 0,
    errors: t.errors,
    latencyMs: t.latencyMs,
    share,
    predicted: predicted.share,
    predictedNote: predicted.note,
    byClient,
    connections,
  };
}

const errorCount = (e: LoadResult['errors']) =>
  e.refused + e.reset + e.timeout + e.other + Object.values(e.status).reduce((a, b) => a + b, 0);

/** The result for the learner: counts, errors by kind, latency, the share beside the prediction, the table. */
export function formatLoad(lab: Lab, r: LoadResult, clients: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const answered = Object.values(r.share).reduce((a, b) => a + b, 0);
  const e = r.errors;
  const errs = [
    e.refused && `refused ${e.refused}`,
    e.reset && `reset ${e.reset}`,
    e.timeout && `timeout ${e.timeout}`,
    e.other && `other ${e.other}`,
    ...Object.entries(e.status).map(([s, n]) => `HTTP ${s}: ${n}`),
  ].filter(Boolean);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  return [
    `load: ${r.requests} requests to ${lab.vip}:${lab.service.port} from ${lab.client.name} (${clients} address${clients > 1 ? 'es' : ''}, a fresh connection each) in ${r.seconds.toFixed(1)} s: ${r.rate.toFixed(0)} req/s`,
    `errors: ${errs.length === 0 ? 'none' : `${errorCount(e)} (${errs.join(', ')})`}`,
    `latency: p50 ${ms(r.latencyMs.p50)}, p90 ${ms(r.latencyMs.p90)}, p99 ${ms(r.latencyMs.p99)}, max ${ms(r.latencyMs.max)}`,
    `share per realserver (measured${r.predicted ? ' | predicted' : ''}; ${r.predictedNote}):`,
    ...Object.entries(r.share).map(
      ([name, n]) =>
        `  ${name.padEnd(10)} ${String(n).padStart(6)}  ${pct(answered ? n / answered : 0).padStart(6)}` +
        (r.predicted ? `  | ${pct(r.predicted[name] ?? 0).padStart(6)}` : ''),
    ),
    ...(r.byClient
      ? [
          'realservers each client address reached:',
          ...Object.entries(r.byClient).map(([ip, rs]) => `  ${ip.padEnd(16)} ${rs.join(', ')}`),
        ]
      : []),
    `director's connection table (ipvsadm -lnc): ${
      Object.entries(r.connections)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ') || 'empty'
    }`,
  ].join('\n');
}
