// Observations of a running lab, each from where it can be seen: responses and frames at the client, the IPVS
// table and counters at the director, the access log at a realserver. They return data; judging it is the caller's.
import { CommandError } from '../model/errors.js';
import { directorsOf, hostsOf, labInterfaces, type Lab } from '../model/topology.js';
import { httpdFiles } from '../provision/httpd.js';
import { CHECKER_USER_AGENT, keepalivedFiles } from '../provision/keepalived.js';
import { virtualService } from '../provision/plan.js';
import { daemonRunning, shq, withTimeout } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { lastReading } from '../base/wait.js';

/** The longest a probe may take (the failover drill's request loop is the longest, at about 20 s). */
export const PROBE_TIMEOUT_MS = 120_000;

/** Runs a probe on a lab host; its output, or a CommandError naming the host, the command and (if so) the limit. */
export async function must(
  access: LabAccess,
  host: string,
  command: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<string> {
  const res = await withTimeout(
    access.transport.run(host, command, { timeoutMs }),
    timeoutMs,
    () => new CommandError(host, command, 124, `no result within ${timeoutMs / 1000} s`, 'probe'),
  );
  if (res.code !== 0) throw new CommandError(host, command, res.code, res.stderr, 'probe');
  return res.stdout;
}

export const serviceUrl = (lab: Lab): string =>
  `http://${lab.vip}${lab.service.port === 80 ? '' : `:${lab.service.port}`}/`;

export async function macOf(access: LabAccess, host: string, dev = 'eth0'): Promise<string> {
  return (await must(access, host, `cat /sys/class/net/${dev}/address`)).trim();
}

export async function macsOf(access: LabAccess): Promise<Map<string, string>> {
  return new Map(
    await Promise.all(
      hostsOf(access.lab).map(async (h): Promise<[string, string]> => [h.name, await macOf(access, h.name)]),
    ),
  );
}

/** The host of every lab interface's MAC (NAT's director has two): who sent or was sent a frame. */
export async function hostsByMac(access: LabAccess): Promise<Record<string, string>> {
  const pairs = await Promise.all(
    hostsOf(access.lab).flatMap((h) =>
      labInterfaces(access.lab, h).map(async (dev) => [await macOf(access, h.name, dev), h.name] as const),
    ),
  );
  return Object.fromEntries(pairs);
}

// Not starting with @: curl reads a -w format starting with @ from a file.
const FETCHED = '#lvs-lab-fetched';

/**
 * Requests from the client to the VIP, each on a fresh TCP connection, so the scheduler picks a realserver for each.
 * By default one curl makes them all (`Connection: close`; one process rather than one per request, each costs
 * time under software emulation). `perRequest`: one curl process per request, as a user runs it; each ends after
 * the realserver has closed its side, so the realserver, not the client, holds the connection's TIME_WAIT (what
 * `observe` shows in its netstat). Either way a line with each request's curl exit code follows its response.
 */
const fetchCommand = (lab: Lab, count: number, perRequest = false) => {
  const curl = `curl -s --max-time 5 -w '${FETCHED} %{exitcode}\\n'`;
  return perRequest
    ? `for i in $(seq ${count}); do ${curl} ${shq(serviceUrl(lab))}; done`
    : `${curl} -H 'Connection: close' ${Array(count)
        .fill(shq(serviceUrl(lab)))
        .join(' ')}`;
};

/** Each request's body ("from <RIP>"), or "curl-failed:<exit>" for a failed one, from fetchCommand's output. */
export function parseFetched(out: string): string[] {
  const bodies: string[] = [];
  const re = new RegExp(`([\\s\\S]*?)${FETCHED} (\\d+)\\n?`, 'g');
  for (const m of out.matchAll(re)) bodies.push(m[2] === '0' ? m[1].trim() : `curl-failed:${m[2]}`);
  return bodies;
}

/** Requests from the client to the VIP; each body ("from <RIP>"), or "curl-failed:<exit>" for a failed request. */
export async function fetchSequence(access: LabAccess, count: number, { perRequest = false } = {}): Promise<string[]> {
  const command = fetchCommand(access.lab, count, perRequest);
  // curl's own exit code is the last request's; each one's is in its line.
  const bodies = parseFetched(await must(access, access.lab.client.name, `${command} || true`));
  // Fewer results than requests: curl itself failed (not installed, bad option), not the lab.
  if (bodies.length !== count)
    throw new CommandError(
      access.lab.client.name,
      command,
      1,
      `${count} requests gave ${bodies.length} results`,
      'probe',
    );
  return bodies;
}

export interface Frame {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

const FRAME =
  /^\S+ ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype IPv4 \(0x0800\), length \d+: (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+):/;

export function parseFrames(tcpdumpOutput: string): Frame[] {
  return tcpdumpOutput.split('\n').flatMap((line) => {
    const m = FRAME.exec(line);
    return m
      ? [{ srcMac: m[1], dstMac: m[2], srcIp: m[3], srcPort: Number(m[4]), dstIp: m[5], dstPort: Number(m[6]) }]
      : [];
  });
}

/**
 * Waits (up to 10 s) until tcpdump's stderr, in `errFile`, says it listens. The file is read with the shell's own
 * `read` and `case`: a grep per poll cost time beside tcpdump's own start.
 */
function untilListening(errFile: string): string {
  const seen = `{ while IFS= read -r l; do case $l in *'listening on'*) exit 0 ;; esac; done; exit 1; } <${errFile}`;
  return `i=0; until (${seen}) 2>/dev/null || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done`;
}

/**
 * Captures, on the client's eth0, every TCP frame coming from the service port while `count` requests run:
 * the Ethernet source says which box sent the reply, the IP source which address it claims.
 */
export async function captureReplies(access: LabAccess, count: number): Promise<{ bodies: string[]; frames: Frame[] }> {
  const script = [
    scratchFiles('replies'),
    `timeout 60 tcpdump --immediate-mode -i eth0 -e -n -l ${shq(`tcp and src port ${access.lab.service.port}`)} >$d/out 2>$d/err & t=$!`,
    // Start the requests only once tcpdump is listening, or the first replies go unseen.
    untilListening('$d/err'),
    `${fetchCommand(access.lab, count)} || true`,
    'sleep 0.3; kill $t 2>/dev/null; wait $t 2>/dev/null',
    'echo "--- frames"; cat $d/out; rm -rf $d',
  ].join('\n');
  const out = await must(access, access.lab.client.name, script);
  const [bodies, frames] = out.split('--- frames\n');
  return { bodies: parseFetched(bodies), frames: parseFrames(frames ?? '') };
}

export interface IpvsCounters {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface IpvsStats extends IpvsCounters {
  /** Per realserver, by RIP. */
  dests: Map<string, IpvsCounters>;
}

export function parseIpvsStats(text: string): IpvsStats | undefined {
  let service: IpvsStats | undefined;
  for (const line of text.split('\n')) {
    const m = /^(TCP|UDP|SCTP)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    const d = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    const counters = (x: RegExpExecArray): IpvsCounters => ({
      conns: Number(x[2]),
      inPkts: Number(x[3]),
      outPkts: Number(x[4]),
      inBytes: Number(x[5]),
      outBytes: Number(x[6]),
    });
    if (m) service = { ...counters(m), dests: new Map() };
    else if (d && service) service.dests.set(d[1], counters(d));
  }
  return service;
}

/** A director's packet counters for the lab's virtual service (`ipvsadm -Ln --stats --exact`). */
export async function ipvsStats(access: LabAccess, director = access.lab.director.name): Promise<IpvsStats> {
  const text = await must(access, director, `ipvsadm -Ln --stats --exact ${virtualService(access.lab)}`);
  const stats = parseIpvsStats(text);
  if (!stats)
    throw new Error(`${director}: no virtual service ${access.lab.vip}:${access.lab.service.port} in:\n${text}`);
  return stats;
}

/**
 * The director's IPVS totals as they stand, summed from the kernel's per-CPU counters (/proc/net/ip_vs_stats_percpu,
 * hex, one row per CPU), which every packet updates; ipvsadm's --stats are folded from them only on the IPVS
 * estimator's tick (every 2 s), so waiting for those costs verify a second on average. The director's namespace or
 * machine holds the lab's one virtual service, so its totals are the service's.
 */
export async function ipvsLiveTotals(access: LabAccess, director = access.lab.director.name): Promise<IpvsCounters> {
  return parseIpvsPerCpu(await must(access, director, `cat ${IPVS_PER_CPU}`));
}

export const IPVS_PER_CPU = '/proc/net/ip_vs_stats_percpu';

export function parseIpvsPerCpu(text: string): IpvsCounters {
  const total: IpvsCounters = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
  let rows = 0;
  for (const line of text.split('\n')) {
    // "  0        6       20        0              D48                0": a CPU (in hex) and its five counters.
    const m = /^\s*[0-9A-F]+((?:\s+[0-9A-F]+){5})\s*$/i.exec(line);
    if (!m) continue;
    const [conns, inPkts, outPkts, inBytes, outBytes] = m[1]
      .trim()
      .split(/\s+/)
      .map((x) => parseInt(x, 16));
    Object.assign(total, {
      conns: total.conns + conns,
      inPkts: total.inPkts + inPkts,
      outPkts: total.outPkts + outPkts,
      inBytes: total.inBytes + inBytes,
      outBytes: total.outBytes + outBytes,
    });
    rows++;
  }
  if (rows === 0) throw new Error(`no per-CPU IPVS counters in ${IPVS_PER_CPU}:\n${text}`);
  return total;
}

/**
 * The counters once they include `newConns` connections made since `before`. The kernel folds its per-CPU
 * counters into what ipvsadm reads only on the IPVS estimator's tick (every 2 s), so a read right after traffic
 * can lag behind it.
 */
export async function ipvsStatsAfter(
  access: LabAccess,
  before: IpvsStats,
  newConns: number,
  timeoutMs = 6_000,
  director = access.lab.director.name,
): Promise<IpvsStats> {
  return lastReading(
    () => ipvsStats(access, director),
    (now) => now.conns - before.conns >= newConns,
    { within: timeoutMs, every: 250 },
  );
}

export interface IpvsService {
  scheduler: string;
  flags: string;
  dests: Array<{ rip: string; forward: string; weight: number; activeConn: number; inActConn: number }>;
}

export function parseIpvsTable(text: string): IpvsService | undefined {
  let svc: IpvsService | undefined;
  for (const line of text.split('\n')) {
    const m = /^(TCP|UDP|SCTP)\s+\S+\s+(\S+)\s*(.*)$/.exec(line);
    const d = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (m) svc = { scheduler: m[2], flags: m[3].trim(), dests: [] };
    else if (d && svc)
      svc.dests.push({
        rip: d[1],
        forward: d[2],
        weight: Number(d[3]),
        activeConn: Number(d[4]),
        inActConn: Number(d[5]),
      });
  }
  return svc;
}

/** A director's IPVS table for the lab's service (`ipvsadm -Ln`): scheduler, realservers, forwarding, weights. */
export async function ipvsTable(access: LabAccess, director = access.lab.director.name): Promise<IpvsService> {
  const text = await must(access, director, `ipvsadm -Ln ${virtualService(access.lab)}`);
  const svc = parseIpvsTable(text);
  if (!svc)
    throw new Error(`${director}: no virtual service ${access.lab.vip}:${access.lab.service.port} in:\n${text}`);
  return svc;
}

/**
 * The directors that carry the VIP now, on any interface (eth0, or NAT's eth1), by the kernel's word, not
 * keepalived's: one, in a healthy pair.
 */
export async function vipHolders(access: LabAccess): Promise<string[]> {
  const held = await Promise.all(
    directorsOf(access.lab).map(async (d) =>
      (await access.transport.run(d.name, `ip -4 -o addr show | grep -qF ' inet ${access.lab.vip}/'`)).code === 0
        ? [d.name]
        : [],
    ),
  );
  return held.flat();
}

/** Waits (up to `seconds`) until exactly one director holds the VIP, and returns who holds it then. */
export async function settledVipHolders(access: LabAccess, seconds: number): Promise<string[]> {
  return lastReading(
    () => vipHolders(access),
    (holders) => holders.length === 1,
    { within: seconds * 1000, every: 200 },
  );
}

/** The connections a director's IPVS knows from `clientIp` to the VIP (`ipvsadm -Lnc`): state and realserver each. */
export async function ipvsConnections(
  access: LabAccess,
  director: string,
  clientIp = access.lab.client.ip,
): Promise<Array<{ state: string; client: string; rs: string }>> {
  const out = await must(access, director, 'ipvsadm -Lnc');
  const vip = `${access.lab.vip}:${access.lab.service.port}`;
  return out.split('\n').flatMap((line) => {
    const f = line.trim().split(/\s+/);
    // pro expire state source virtual destination
    return f.length >= 6 && f[3].startsWith(`${clientIp}:`) && f[4] === vip
      ? [{ state: f[2], client: f[3], rs: f[5].replace(/:\d+$/, '') }]
      : [];
  });
}

/** The IPVS sync daemons running on a director (`ipvsadm -L --daemon`), as ipvsadm prints them. */
export async function syncDaemons(access: LabAccess, director: string): Promise<string[]> {
  return (await must(access, director, 'ipvsadm -L --daemon'))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The client address of each request in a realserver's access log, oldest first. */
export async function accessLogClients(access: LabAccess, realserver: string): Promise<string[]> {
  const log = httpdFiles(access.httpd, realserver).accessLog;
  return (await must(access, realserver, `cat ${shq(log)}`))
    .split('\n')
    .filter((line) => line && !line.endsWith(`"${CHECKER_USER_AGENT}"`)) // keepalived's checks, not requests
    .map((line) => line.split(' ')[0]);
}

/**
 * Every MAC that answers ARP requests for the VIP from the client within `seconds` (one request a second). arping
 * -b keeps broadcasting, so each request can be answered by every host that claims the address, and it waits for
 * more replies than there are hosts, so it listens for the whole time rather than stopping at the first answer.
 */
export async function arpResponders(
  access: LabAccess,
  seconds = 1,
  { address = access.lab.vip, from = access.lab.client.name } = {},
): Promise<string[]> {
  const replies = 2 * hostsOf(access.lab).length * seconds;
  const res = await access.transport.run(from, `arping -b -c ${replies} -w ${seconds} -I eth0 ${address}`);
  const macs = [...res.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1].toLowerCase());
  if (macs.length === 0 && res.code > 1)
    throw new CommandError(from, `arping ${address}`, res.code, res.stderr, 'probe');
  return macs;
}

/** The MAC the client's neighbour table holds for the VIP (where its packets for the VIP really go). */
export async function clientNeighborMac(access: LabAccess): Promise<string | undefined> {
  const out = await must(access, access.lab.client.name, `ip neigh show ${access.lab.vip} dev eth0`);
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

/** Empties the hosts' neighbour tables on the lab NIC (the client's alone unless told). */
export async function flushNeighbors(access: LabAccess, hosts = [access.lab.client.name]): Promise<void> {
  for (const h of hosts) await must(access, h, 'ip neigh flush dev eth0');
}

export const flushClientNeighbors = (access: LabAccess): Promise<void> => flushNeighbors(access);

/**
 * Readies try `n` of finding which MAC the client keeps for the VIP when the realservers answer ARP for it. Which
 * reply the client keeps is a race (within the entry's locktime the first wins) that one host can win many times in
 * a row, so every other try empties the realservers' tables alone: the one the director forwards to must then ask
 * for the client's MAC from the VIP (arp_announce=0), and a request always overrides the client's entry for its
 * sender. Both are the kernel's own ways to the same mistake.
 */
export async function readyArpTry(access: LabAccess, n: number): Promise<'race' | 'announce'> {
  const realservers = access.lab.realservers.map((r) => r.name);
  const race = n % 2 === 0;
  await flushNeighbors(access, race ? [access.lab.client.name, ...realservers] : realservers);
  return race ? 'race' : 'announce';
}

/**
 * The pids of a realserver's httpd master processes: apache2 processes of its own (its config, in a shared
 * process table) whose parent is not one of them. One per realserver is the healthy count.
 */
export async function httpdMasters(access: LabAccess, realserver: string): Promise<string[]> {
  const files = httpdFiles(access.httpd, realserver);
  const pattern = files.config ? `apache2 -f ${files.config}` : 'apache2';
  const ps = await must(access, realserver, 'ps -eo pid=,ppid=,args=');
  const procs = ps
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length > 2 && p.slice(2).join(' ').includes(pattern));
  const pids = new Set(procs.map((p) => p[0]));
  return procs.filter((p) => !pids.has(p[1])).map((p) => p[0]);
}

/**
 * Shell text that makes a fresh private directory for a probe's files on a host (mktemp -d: root's own, mode 0700,
 * a name nobody could have made first in a /tmp that namespaces share) and sets `f` to a file base inside it.
 */
export const scratchFiles = (kind: string): string => `d=$(mktemp -d /tmp/lvs-lab-${kind}.XXXXXXXX) && f=$d/p`;

/** The directory `scratchFiles` made, from its `echo $d` (checked to be one it makes), and the file base in it. */
export function scratchOf(out: string): { dir: string; file: string } {
  const dir = out.trim().split('\n').pop() ?? '';
  if (!/^\/tmp\/lvs-lab-[a-z]+\.[A-Za-z0-9]{8}$/.test(dir))
    throw new Error(`not a scratch directory: ${JSON.stringify(dir)}`);
  return { dir, file: `${dir}/p` };
}

/** Shell text that sets `p` to the pid in `file`, failing unless it is a number (what a background `$!` wrote). */
export const pidFrom = (file: string): string =>
  `p=$(cat ${file}); case "$p" in '' | *[!0-9]*) echo "${file}: not a pid" >&2; false ;; esac`;

/** Stops the process whose pid is in `file` and waits until it is gone. */
export const stopPid = (file: string): string =>
  `${pidFrom(file)} && { kill $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 0.05; done; true; }`;

/**
 * Starts tcpdump (`args(file)`: interface, options, filter; `file` a base for its files in a fresh private directory)
 * detached on `host` and waits until it listens. It is bounded (it stops by itself after `seconds`, or at tcpdump's
 * own -c); `stop` ends it and waits until it has gone, so its output is complete: stdout in `file`.out, stderr in
 * `file`.err; `dir` is removed by whoever reads them. Every descriptor is redirected: a detached process holding the
 * session's output would keep the command (an SSH channel) open. In immediate mode each packet reaches tcpdump as it
 * comes, not in blocks up to a second late: what `stop` ends has seen every packet of the traffic before it.
 */
export async function startTcpdump(
  access: LabAccess,
  host: string,
  args: (file: string) => string,
  kind: string,
  seconds = 60,
): Promise<{ dir: string; file: string; stop(): Promise<void> }> {
  const { dir, file } = scratchOf(
    await must(
      access,
      host,
      `${scratchFiles(kind)} && (timeout ${seconds} tcpdump --immediate-mode ${args('$f')} </dev/null >$f.out 2>$f.err & echo $! >$f.pid) && echo $d`,
    ),
  );
  await must(access, host, untilListening(`${file}.err`));
  return {
    dir,
    file,
    stop: async () => {
      await access.transport.run(host, `sleep 0.3; ${stopPid(`${file}.pid`)}`);
    },
  };
}

/**
 * Captures on `host`'s interface `dev` (tcpdump -e -n, `filter`) while `during` runs elsewhere in the lab, and
 * returns tcpdump's lines.
 */
export async function captureDuring(
  access: LabAccess,
  host: string,
  filter: string,
  during: () => Promise<unknown>,
  dev = 'eth0',
): Promise<string[]> {
  const capture = await startTcpdump(access, host, () => `-i ${dev} -e -n -l ${shq(filter)}`, 'capture');
  try {
    await during();
  } finally {
    await capture.stop();
  }
  const out = await must(access, host, `cat ${capture.file}.out; rm -rf ${capture.dir}`);
  return out.split('\n').filter(Boolean);
}

export interface TunnelledPacket {
  outerSrc: string;
  outerDst: string;
  innerSrc: string;
  innerDst: string;
  innerDstPort: number;
}

const IPIP = /: (\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.(\d+):/;

/** IP-in-IP packets as tcpdump prints them: outer addresses, then the packet inside. */
export function parseTunnelled(lines: string[]): TunnelledPacket[] {
  return lines.flatMap((line) => {
    const m = IPIP.exec(line);
    return m ? [{ outerSrc: m[1], outerDst: m[2], innerSrc: m[3], innerDst: m[4], innerDstPort: Number(m[5]) }] : [];
  });
}

/** keepalived's main, checker and VRRP processes on a director, by their pid files; absent when not running. */
export async function keepalivedPids(
  access: LabAccess,
  director = access.lab.director.name,
): Promise<{ main?: number; checker?: number; vrrp?: number }> {
  const files = keepalivedFiles(access.httpd, director);
  const alive = (file: string) => `{ ${daemonRunning(file)} && cat ${shq(file)}; } || echo -`;
  const out = (
    await must(access, director, [files.pidFile, files.checkersPidFile, files.vrrpPidFile].map(alive).join('; '))
  ).split('\n');
  const pid = (line?: string) => (line && /^\d+$/.test(line) ? Number(line) : undefined);
  return { main: pid(out[0]), checker: pid(out[1]), vrrp: pid(out[2]) };
}
