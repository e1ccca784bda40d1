// `npm run lab -- capture`: packet captures on the chosen hosts' lab interfaces while requests run, saved as one pcap
// per host and interface (tcpdump -r and Wireshark read them), with a short tcpdump -e -n summary that shows the
// path: the client's requests to the director's MAC, the director's forwarded copy to a realserver's MAC with the IP
// header untouched (DR), the replies from a realserver's MAC with the VIP as source. Bounded in packets and time.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { labInterfaces, type Lab } from '../model/topology.js';
import { fetchSequence, must, startTcpdump } from '../verify/probes.js';
import type { LabAccess } from '../provision/transport.js';
import { shq } from '../provision/shell.js';
import { timeline, type SeenFrame } from './frames.js';
import { hostNamed } from './hosts.js';

/** At most this many packets per capture, and this many seconds: a capture always stops by itself. */
export const MAX_PACKETS = 2000;
export const MAX_SECONDS = 60;

export interface CaptureFile {
  host: string;
  dev: string;
  file: string;
  packets: number;
  /** tcpdump -e -n -r of the pcap, the service's TCP frames, first lines. */
  summary: string[];
}

/** A host's lab interface to capture on. */
export interface CaptureTarget {
  host: string;
  dev: string;
}

/** Every lab interface of the hosts named; an unknown host, or a lab interface missing, refused before any starts. */
export async function captureTargets(access: LabAccess, hosts: string[]): Promise<CaptureTarget[]> {
  const { lab } = access;
  const targets = hosts.flatMap((name) => labInterfaces(lab, hostNamed(lab, name)).map((dev) => ({ host: name, dev })));
  for (const t of targets) {
    const res = await access.transport.run(t.host, `test -e /sys/class/net/${t.dev}`);
    if (res.code !== 0) throw new UserError(`capture: ${t.host} has no lab interface ${t.dev}`);
  }
  return targets;
}

/**
 * tcpdump on each target at once (`args`: its options for the files' base `f`) while `during` runs; every capture
 * that started is stopped whatever failed, and returned with where its files are (the caller removes `dir`).
 */
export async function captureWhile<T>(
  access: LabAccess,
  targets: CaptureTarget[],
  args: (t: CaptureTarget, f: string) => string,
  during: () => Promise<T>,
): Promise<{ result: T; captures: Array<CaptureTarget & { dir: string; file: string }> }> {
  const started: Array<CaptureTarget & { dir: string; file: string; stop(): Promise<void> }> = [];
  try {
    for (const t of targets)
      started.push({ ...t, ...(await startTcpdump(access, t.host, (f) => args(t, f), 'capture', MAX_SECONDS)) });
    const result = await during();
    return { result, captures: started };
  } finally {
    // No tcpdump is left running.
    await Promise.all(started.map((c) => c.stop()));
  }
}

/** The frames (`filter`, at most 200 per interface) seen on `targets` while `during` runs, in one timeline. */
export async function framesWhile<T>(
  access: LabAccess,
  targets: CaptureTarget[],
  filter: string,
  during: () => Promise<T>,
): Promise<{ result: T; frames: SeenFrame[] }> {
  const { result, captures } = await captureWhile(
    access,
    targets,
    (t) => `-i ${t.dev} -tt -e -n -l -c 200 ${shq(filter)}`,
    during,
  );
  const lines = await Promise.all(
    captures.map(async (c) => ({
      ...c,
      lines: (await must(access, c.host, `cat ${c.file}.out; rm -rf ${c.dir}`)).split('\n').filter(Boolean),
    })),
  );
  return { result, frames: timeline(lines) };
}

export async function capture(
  access: LabAccess,
  hosts: string[],
  requests: number,
  outDir: string,
): Promise<{ bodies: string[]; files: CaptureFile[] }> {
  const { lab } = access;
  const targets = await captureTargets(access, hosts);
  const { result: bodies, captures } = await captureWhile(
    access,
    targets,
    (t, f) => `-i ${t.dev} -U -c ${MAX_PACKETS} -w ${f}.pcap`,
    () => fetchSequence(access, requests),
  );
  await mkdir(outDir, { recursive: true });
  const files = await Promise.all(
    captures.map(async ({ host, dev, dir, file: r }): Promise<CaptureFile> => {
      const summary = (await must(access, host, `tcpdump -e -n -r ${r}.pcap tcp port ${lab.service.port} 2>/dev/null`))
        .split('\n')
        .filter(Boolean);
      const packets = Number((await must(access, host, `tcpdump -n -r ${r}.pcap 2>/dev/null | wc -l`)).trim());
      const pcap = Buffer.from((await must(access, host, `base64 -w0 ${r}.pcap; rm -rf ${dir}`)).trim(), 'base64');
      const file = join(outDir, `${host}${dev === 'eth0' ? '' : `-${dev}`}.pcap`);
      await writeFile(file, pcap);
      return { host, dev, file, packets, summary };
    }),
  );
  return { bodies, files };
}

export function formatCapture(lab: Lab, c: { bodies: string[]; files: CaptureFile[] }, lines = 8): string {
  const out = [
    `${c.bodies.length} requests to ${lab.vip}:${lab.service.port} from ${lab.client.name}: ${c.bodies.join(', ')}`,
  ];
  for (const f of c.files)
    out.push(
      '',
      `== ${f.host} ${f.dev}: ${f.packets} packets -> ${f.file}  (tcpdump -e -n -r ${f.file})`,
      ...f.summary.slice(0, lines).map((l) => `   ${l}`),
      ...(f.summary.length > lines ? [`   ... ${f.summary.length - lines} more`] : []),
    );
  return out.join('\n');
}
