// A director pair under a failover drill: the client keeps requesting while the MASTER loses its lab link, and
// what it saw is read back afterwards. Data only; tests and the benchmark judge it.
import { directorsOf, type Lab } from '../model/topology.js';
import { shq } from '../provision/shell.js';
import { clientNeighborMac, must, pidFrom, scratchFiles, scratchOf, serviceUrl, vipHolders } from './probes.js';
import type { LabAccess } from '../provision/transport.js';
import { pollFor, sleep, waitFor } from '../base/wait.js';
import { TimeoutError } from '../model/errors.js';

/** The pair's other director. */
export const peerOf = (lab: Lab, name: string): string => directorsOf(lab).find((d) => d.name !== name)!.name;

/** A director "dies" on the lab network: its eth0 goes down (keepalived sees the link go and drops to FAULT). */
export const cutDirector = (access: LabAccess, name: string) => must(access, name, 'ip link set eth0 down');
/** ...and comes back. */
export const restoreDirector = (access: LabAccess, name: string) => must(access, name, 'ip link set eth0 up');

/** Seconds until `name` alone holds the VIP, polled every 100 ms from now; undefined past `limit` seconds. */
export async function secondsUntilSoleHolder(
  access: LabAccess,
  name: string,
  limit: number,
  since = Date.now(),
): Promise<number | undefined> {
  return pollFor(
    async () => {
      const holders = await vipHolders(access);
      return holders.length === 1 && holders[0] === name ? (Date.now() - since) / 1000 : undefined;
    },
    { within: limit * 1000 - (Date.now() - since), every: 100 },
  );
}

export interface RequestLoop {
  /** Stops the loop (if still running) and returns each request: when it started (epoch s) and whether it was answered. */
  results(): Promise<Array<{ at: number; ok: boolean; body: string }>>;
}

/**
 * Starts, detached on the client, a bounded loop: a new connection to the VIP every `everyMs` for `seconds`, each
 * request given 1 s. Every descriptor is redirected, so the session that started it is free at once.
 */
export async function startRequestLoop(access: LabAccess, seconds: number, everyMs = 100): Promise<RequestLoop> {
  const loop =
    `end=$(($(date +%s) + ${Math.ceil(seconds)})); while [ $(date +%s) -lt $end ]; do t=$(date +%s.%N); ` +
    `if b=$(curl -s --max-time 1 ${shq(serviceUrl(access.lab))}); then echo "$t ok $b"; else echo "$t fail"; fi; sleep ${everyMs / 1000}; done`;
  const { dir, file } = scratchOf(
    await must(
      access,
      access.lab.client.name,
      `${scratchFiles('loop')} && (sh -c ${shq(loop)} </dev/null >$f.out 2>/dev/null & echo $! >$f.pid) && echo $d`,
    ),
  );
  return {
    results: async () => {
      await must(
        access,
        access.lab.client.name,
        `${pidFrom(`${file}.pid`)} && while kill -0 $p 2>/dev/null; do sleep 0.2; done`,
      );
      const out = await must(access, access.lab.client.name, `cat ${file}.out; rm -rf ${dir}`);
      return out
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [at, result, ...body] = line.split(' ');
          return { at: Number(at), ok: result === 'ok', body: body.join(' ') };
        });
    },
  };
}

export interface Failover {
  from: string;
  to: string;
  /** From the MASTER's link going down to the backup alone holding the VIP. */
  takeoverSeconds?: number;
  /** The client's neighbour entry for the VIP before and after: the MASTER's MAC, then (gratuitous ARP) the backup's. */
  clientMacBefore?: string;
  clientMacAfter?: string;
  requests: Array<{ at: number; ok: boolean; body: string }>;
  failed: number;
}

/**
 * The drill: requests from the client (a new connection every 100 ms), the MASTER's link cut after `leadSeconds`,
 * the backup's takeover timed, requests continuing `tailSeconds` after it. The cut director stays cut.
 */
export async function failoverDrill(
  access: LabAccess,
  limitSeconds: number,
  { leadSeconds = 2, tailSeconds = 4 } = {},
): Promise<Failover> {
  const [from] = await vipHolders(access);
  if (!from) throw new Error('failover drill: no director holds the VIP');
  const to = peerOf(access.lab, from);
  const clientMacBefore = await clientNeighborMac(access);
  const loop = await startRequestLoop(access, leadSeconds + limitSeconds + tailSeconds);
  await sleep(leadSeconds * 1000);
  const cut = Date.now();
  await cutDirector(access, from);
  const takeoverSeconds = await secondsUntilSoleHolder(access, to, limitSeconds, cut);
  const requests = await loop.results();
  return {
    from,
    to,
    takeoverSeconds,
    clientMacBefore,
    clientMacAfter: await clientNeighborMac(access),
    requests,
    failed: requests.filter((r) => !r.ok).length,
  };
}

export interface HeldConnection {
  /** The client's end of it, "ip:port", as IPVS lists it. */
  client: string;
  /** Sends the rest of the request and returns what came back: the response, or nothing when it was reset. */
  /** `reset`: the peer answered with RST; `silent`: nothing came back within 5 s. */
  finish(): Promise<{ response: string; reset: boolean; silent: boolean; detail: string }>;
}

/**
 * Opens one TCP connection from the client to the VIP and sends the first half of a request (httpd waits for the
 * rest), detached; `finish` sends the end of the headers over the same connection. A connection that outlives a
 * failover answers; one the new MASTER does not know is reset.
 */
export async function holdConnection(access: LabAccess): Promise<HeldConnection> {
  const port = access.lab.service.port;
  const established = async () =>
    (
      await must(
        access,
        access.lab.client.name,
        `ss -Htn state established dst ${access.lab.vip}:${port} | awk '{print $3}'`,
      )
    )
      .split('\n')
      .filter(Boolean);
  // Connections already open (another test's, a load's last) are not this one: its port is the new one.
  const before = new Set(await established());
  // The script waits for the go file; its directory is made first so that the script can name it.
  const { dir, file } = scratchOf(await must(access, access.lab.client.name, `${scratchFiles('held')} && echo $d`));
  const script = [
    `exec 3<>/dev/tcp/${access.lab.vip}/${port} || exit 1`,
    `printf 'GET / HTTP/1.1\\r\\nHost: ${access.lab.vip}\\r\\n' >&3`,
    `i=0; while [ ! -e ${file}.go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`,
    // A reset that arrived first fails this write ("Connection reset by peer", on stderr) rather than the read.
    `printf 'Connection: close\\r\\n\\r\\n' >&3`,
    'timeout 5 cat <&3; echo "#lvs-lab-cat $?" >&2',
  ].join('\n');
  await must(
    access,
    access.lab.client.name,
    `(bash -c ${shq(script)} </dev/null >${file}.out 2>${file}.err & echo $! >${file}.pid)`,
  );
  // Its local port, once connected (the kernel's socket table names it).
  const client = await waitFor(async () => (await established()).find((c) => !before.has(c)), {
    within: 15_000, // each look is a command through the testbed, slow in a container of the emulated engine VM
    every: 100,
    timedOut: () =>
      new TimeoutError(`client: no connection to ${access.lab.vip}:${port} established within 15 s`, 15_000),
  });
  return {
    client,
    finish: async () => {
      await must(
        access,
        access.lab.client.name,
        `touch ${file}.go; ${pidFrom(`${file}.pid`)} && while kill -0 $p 2>/dev/null; do sleep 0.1; done`,
      );
      // cat's own word for how the connection ended, on the script's stderr: "Connection reset by peer" for a RST.
      const [response, err = ''] = (
        await must(
          access,
          access.lab.client.name,
          `cat ${file}.out; echo '#lvs-lab-err'; cat ${file}.err; rm -rf ${dir}`,
        )
      ).split('#lvs-lab-err\n');
      return {
        response: response.replace(/\n$/, ''),
        reset: /reset by peer/i.test(err),
        silent: /^#lvs-lab-cat 124$/m.test(err),
        detail: err.trim(),
      };
    },
  };
}
