// `npm run lab -- explain`: one fresh request from the client, captured on every host at once, walked through in the
// order the seed's notes give (a port, a next hop, ARP for its MAC, the handshake, the data, the close), each step
// with the frames and kernel state it rests on. Nothing is templated: a step says what this run's packets show, and
// where that differs from what the lab's forwarding method leads one to expect.
import { directorsOf, hostsOf, type Lab } from '../model/topology.js';
import { shq } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { hostsByMac, must, vipHolders } from '../verify/probes.js';
import { captureTargets, framesWhile } from './capture.js';
import type { SeenFrame } from './frames.js';

export interface WalkStep {
  title: string;
  /** What happened, in words, from the evidence. */
  says: string[];
  /** The frames and command output it rests on. */
  evidence: string[];
  /** Whether this is what the lab's forwarding method does. */
  expected: boolean;
}

export interface Walk {
  lab: string;
  forwarding: Lab['forwarding'];
  client: { ip: string; port: number };
  realserver?: string;
  /** A director pair's: who holds the VIP. */
  holders?: string[];
  status: string;
  body: string;
  steps: WalkStep[];
  frames: SeenFrame[];
  /** Host of each MAC seen. */
  macs: Record<string, string>;
}

/** What the client and the director say around the request: the route, the neighbour entry, the IPVS entry. */
interface Kernel {
  route: string;
  neighbour: string;
  connections: string;
  /** A director pair's: the directors whose eth0 holds the VIP. */
  holders?: string[];
}

const END = '#lvs-lab-explain';

/** One request from the client, with its socket's port, the status and the body (curl's own words). */
async function request(access: LabAccess, path: string) {
  const { lab } = access;
  const url = `http://${lab.vip}:${lab.service.port}${path}`;
  const out = await must(
    access,
    lab.client.name,
    `curl -s --max-time 5 -w ${shq(`\n${END} %{local_port} %{http_code}`)} ${shq(url)}`,
  );
  const at = out.lastIndexOf(END);
  const [port, status] = out
    .slice(at + END.length)
    .trim()
    .split(' ');
  return { body: out.slice(0, at).trim(), port: Number(port), status };
}

/** Captures on every host while the client makes one request after forgetting the VIP's MAC. */
export async function explainRequest(access: LabAccess, path = '/'): Promise<Walk> {
  const { lab } = access;
  const client = lab.client.name;
  // The client forgets its neighbours, so the walk shows ARP; and the route it will use.
  await must(access, client, 'ip neigh flush dev eth0');
  const route = await must(access, client, `ip route get ${lab.vip}`);
  const targets = await captureTargets(
    access,
    hostsOf(lab).map((h) => h.name),
  );
  const { result, frames } = await framesWhile(
    access,
    targets,
    `arp or tcp port ${lab.service.port} or ip proto 4`,
    async () => {
      const r = await request(access, path);
      await new Promise((res) => setTimeout(res, 500)); // the close's last ACKs
      return r;
    },
  );
  const kernel: Kernel = {
    route: route.trim(),
    neighbour: (await must(access, client, `ip neigh show ${lab.vip}`)).trim(),
    connections: (
      await Promise.all(directorsOf(lab).map((d) => must(access, d.name, 'ipvsadm -lnc 2>/dev/null || true')))
    ).join('\n'),
    holders: lab.ha ? await vipHolders(access) : undefined,
  };
  const macs = await hostsByMac(access);
  return walk(lab, result, frames, macs, kernel);
}

const who = (macs: Record<string, string>, mac: string) => macs[mac] ?? mac;

/** The frames of the one connection (the client's port), from the client or to it. */
const ofConnection = (frames: SeenFrame[], port: number) =>
  frames.filter((f) => f.tcp && (f.tcp.sport === port || f.tcp.dport === port));

/** Builds the six steps from the frames; exported for tests on canned captures. */
export function walk(
  lab: Lab,
  r: { body: string; port: number; status: string },
  frames: SeenFrame[],
  macs: Record<string, string>,
  kernel: Kernel,
): Walk {
  const conn = ofConnection(frames, r.port);
  const steps = [
    portStep(lab, r, conn),
    nextHopStep(lab, kernel),
    arpStep(lab, frames, macs, kernel),
    handshakeStep(lab, conn, macs),
    dataStep(lab, r, conn, macs),
    closeStep(lab, conn, kernel, r.port),
  ];
  return {
    lab: lab.name,
    forwarding: lab.forwarding,
    client: { ip: lab.client.ip, port: r.port },
    realserver: synAtRealserver(lab, conn)?.host,
    holders: kernel.holders,
    status: r.status,
    body: r.body,
    steps,
    frames,
    macs,
  };
}

function portStep(lab: Lab, r: { port: number }, conn: SeenFrame[]): WalkStep {
  const first = conn.find((f) => f.host === lab.client.name && f.tcp!.flags === 'S');
  return {
    title: '1. a port',
    says: [`the client's socket ${lab.client.ip}:${r.port} -> ${lab.vip}:${lab.service.port} (curl's local port)`],
    evidence: first ? [`${lab.client.name}: ${first.line}`] : ['no SYN seen on the client'],
    expected: first !== undefined,
  };
}

function nextHopStep(lab: Lab, kernel: Kernel): WalkStep {
  const onLink = !/ via /.test(kernel.route);
  return {
    title: '2. a next hop',
    says: [
      onLink
        ? `${lab.vip} is on the client's own subnet: no gateway, the next hop is the VIP itself, out of ${/dev (\S+)/.exec(kernel.route)?.[1] ?? 'eth0'}`
        : `the VIP is reached through a gateway: ${/ via (\S+)/.exec(kernel.route)?.[1]}`,
    ],
    evidence: [`${lab.client.name}: ip route get ${lab.vip}: ${kernel.route.split('\n')[0]}`],
    expected: onLink,
  };
}

function arpStep(lab: Lab, frames: SeenFrame[], macs: Record<string, string>, kernel: Kernel): WalkStep {
  const atClient = frames.filter((f) => f.host === lab.client.name && f.arp?.target === lab.vip);
  const replies = atClient.filter((f) => f.arp!.op === 'reply');
  const answered = [...new Set(replies.map((f) => who(macs, f.arp!.mac!)))];
  const directors = directorsOf(lab).map((d) => d.name);
  return {
    title: "3. ARP for the next hop's MAC",
    says: [
      `who-has ${lab.vip}: answered by ${answered.join(', ') || 'nobody'}` +
        (answered.length === 1 && directors.includes(answered[0])
          ? ' alone; the realservers hold the VIP too (lo or tunl0) but stay silent (arp_ignore=1, arp_announce=2)'
          : ''),
      `the client's neighbour entry: ${kernel.neighbour || 'none'}`,
    ],
    evidence: atClient.map((f) => `${lab.client.name}: ${f.line}`),
    expected: answered.length === 1 && directors.includes(answered[0]),
  };
}

/** The SYN as the realserver the director chose received it. */
const synAtRealserver = (lab: Lab, conn: SeenFrame[]) =>
  conn.find((f) => f.tcp!.flags === 'S' && lab.realservers.some((r) => r.name === f.host));

function handshakeStep(lab: Lab, conn: SeenFrame[], macs: Record<string, string>): WalkStep {
  const atDirector = conn.filter((f) => f.tcp!.flags === 'S' && directorsOf(lab).some((d) => d.name === f.host));
  const atRs = synAtRealserver(lab, conn);
  const synAck = conn.find((f) => f.tcp!.flags === 'S.' && f.host === lab.client.name);
  const synAckAtDirector = conn.some((f) => f.tcp!.flags === 'S.' && directorsOf(lab).some((d) => d.name === f.host));
  const says = [
    `SYN from the client to ${who(macs, atDirector[0]?.dstMac ?? '') || 'the director'}'s MAC`,
    atRs ? `the director forwarded it to ${atRs.host}: ${forwardedHow(lab, atRs, macs)}` : 'no realserver saw the SYN',
    synAck
      ? `SYN-ACK from ${who(macs, synAck.srcMac)} (source ${synAck.tcp!.src}) ${synAckAtDirector ? 'through the director' : 'straight to the client, past the director'}`
      : 'no SYN-ACK reached the client',
  ];
  const direct = lab.forwarding !== 'nat';
  return {
    title: '4. the handshake',
    says,
    evidence: [...atDirector, ...(atRs ? [atRs] : []), ...(synAck ? [synAck] : [])].map(
      (f) => `${f.host} ${f.dev}: ${f.line}`,
    ),
    expected: atRs !== undefined && synAck !== undefined && synAckAtDirector !== direct,
  };
}

/** How the director's copy of a packet differs from what the client sent, as the realserver received it. */
function forwardedHow(lab: Lab, f: SeenFrame, macs: Record<string, string>): string {
  if (f.outer)
    return `inside an IP-in-IP header ${f.outer.src} -> ${f.outer.dst} (TUN), the inner packet still to ${f.tcp!.dst}`;
  if (f.tcp!.dst === lab.vip)
    return `the same IP packet (destination still ${lab.vip}), re-addressed to ${who(macs, f.dstMac)}'s MAC ${f.dstMac} (DR)`;
  return `its destination rewritten to ${f.tcp!.dst} (NAT)`;
}

function dataStep(
  lab: Lab,
  r: { body: string; status: string },
  conn: SeenFrame[],
  macs: Record<string, string>,
): WalkStep {
  const get = conn.find((f) => f.host === lab.client.name && f.tcp!.length > 0 && f.tcp!.dport === lab.service.port);
  const reply = conn.find((f) => f.host === lab.client.name && f.tcp!.length > 0 && f.tcp!.sport === lab.service.port);
  return {
    title: '5. the data',
    says: [
      `the GET (${get?.tcp!.length ?? 0} bytes) to the VIP; the answer: HTTP ${r.status}, "${r.body}"`,
      reply ? `the answer came from ${who(macs, reply.srcMac)}'s MAC with source ${reply.tcp!.src}` : 'no answer seen',
    ],
    evidence: [get, reply].flatMap((f) => (f ? [`${f.host}: ${f.line}`] : [])),
    expected: r.status === '200' && reply?.tcp!.src === lab.vip,
  };
}

function closeStep(lab: Lab, conn: SeenFrame[], kernel: Kernel, port: number): WalkStep {
  const fins = conn.filter((f) => f.host === lab.client.name && f.tcp!.flags.includes('F'));
  const entry = kernel.connections.split('\n').find((l) => l.includes(`${lab.client.ip}:${port}`));
  return {
    title: '6. the close',
    says: [
      `${fins.length} FIN${fins.length === 1 ? '' : 's'} seen at the client (each side closes its half)`,
      entry
        ? `the director's connection entry: ${entry.trim().split(/\s+/)[2]} (ipvsadm -lnc)`
        : "the director's table has no entry for it",
    ],
    evidence: [...fins.map((f) => `${f.host}: ${f.line}`), ...(entry ? [`ipvsadm -lnc: ${entry.trim()}`] : [])],
    expected: fins.length >= 2,
  };
}

export function formatWalk(w: Walk): string {
  const out = [
    `lab ${w.lab} (${w.forwarding.toUpperCase()}): one request from ${w.client.ip}:${w.client.port}, answered by ${w.realserver ?? '?'}: HTTP ${w.status} "${w.body}"`,
    ...(w.holders
      ? [`the director pair: the VIP is held by ${w.holders.join(' and ') || 'neither'} (ip addr on eth0)`]
      : []),
  ];
  for (const s of w.steps) {
    out.push('', `${s.title}${s.expected ? '' : `   [not what ${w.forwarding.toUpperCase()} does]`}`);
    for (const l of s.says) out.push(`   ${l}`);
    for (const e of s.evidence) out.push(`      ${e}`);
  }
  return out.join('\n');
}
