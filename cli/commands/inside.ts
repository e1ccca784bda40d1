// Working inside a running lab: a command or a shell on a host, what the seed looks at after requests, captures,
// and the lab's picture.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { formatFaults, faultsInForce } from '../../drive/fault.js';
import { capture, formatCapture } from '../../inside/capture.js';
import { hostNamed } from '../../inside/hosts.js';
import { explainRequest, formatWalk } from '../../inside/explain.js';
import { ladderSvg } from '../../inside/ladder.js';
import { formatObservation, observe } from '../../inside/observe.js';
import { UserError } from '../../model/errors.js';
import { readStackSettings, segmentsOf } from '../../model/stack.js';
import { URL_PATH, URL_PATH_RULE } from '../../model/checks.js';
import { hostsOf, shown } from '../../model/topology.js';
import { shq } from '../../provision/shell.js';
import type { ExecOptions, ExecResult } from '../../provision/shell.js';
import { macsOf } from '../../verify/probes.js';
import { post } from '../../view/board.js';
import { withLab, type Command } from '../context.js';

/** Each line of `text` behind its host's name, as `exec --all` prints several hosts' output. */
const prefixed = (host: string, text: string) =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `${host}| ${l}`)
    .join('\n');

const exec: Command = {
  name: 'exec',
  usage:
    'exec H -- CMD   run CMD on host H of a running lab, streaming its output; exits with its status (--all: every host)',
  run: (ctx) => {
    const { all, args } = ctx.values;
    const [host, ...words] = args;
    if (!all && (!host || words.length === 0))
      throw new UserError('exec: usage: exec <host> -- <command...>, or exec --all -- <command...>');
    return withLab(ctx, async (access) => {
      // Each word arrives as given (quoted on the way), as with docker exec; a shell string is `sh -c '...'`.
      const command = (all ? [host, ...words] : words)
        .filter((w) => w !== undefined)
        .map(shq)
        .join(' ');
      const hosts = all ? hostsOf(access.lab).map((h) => h.name) : [hostNamed(access.lab, host).name];
      // One host streams as it comes; several at once prefix each line with the host, as they finish.
      const stream: ExecOptions = {
        onStdout: (c) => process.stdout.write(c),
        onStderr: (c) => process.stderr.write(c),
      };
      const results: ExecResult[] = await Promise.all(
        hosts.map((h) => access.transport.run(h, command, all ? {} : stream)),
      );
      if (all)
        results.forEach((r, i) => {
          if (r.stdout) console.log(prefixed(hosts[i], r.stdout));
          if (r.stderr) console.error(prefixed(hosts[i], r.stderr));
        });
      return results.find((r) => r.code !== 0)?.code ?? 0;
    });
  },
};

const shell: Command = {
  name: 'shell',
  usage: 'shell H         an interactive shell on host H (leave with `exit` or Ctrl-D)',
  run: async (ctx) => {
    const host = ctx.values.args[0];
    if (!host) throw new UserError('shell: usage: shell <host>');
    const argv = await withLab(ctx, (access) => {
      hostNamed(access.lab, host);
      const prompt = `[lvs-lab ${access.lab.name}:${host}] \\w\\$ `;
      return access.transport.interactive(host, `env PS1=${shq(prompt)} bash --norc -i`);
    });
    return new Promise<number>((resolve) =>
      spawn(argv[0], argv.slice(1), { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? 1)),
    );
  },
};

const observeCommand: Command = {
  name: 'observe',
  usage:
    'observe         send requests to the VIP, then show what the seed looks at: ipvsadm -lnc, netstat, arp, route',
  run: (ctx) =>
    withLab(ctx, async (access) => {
      const faults = await faultsInForce(access);
      if (faults.length > 0) console.log(`${formatFaults(access.lab, faults)}\n`);
      console.log(formatObservation(access.lab, await observe(access, ctx.requests(6))));
      return 0;
    }),
};

const captureCommand: Command = {
  name: 'capture',
  usage: "capture         capture on the hosts' lab interfaces while requests run: one pcap per host, and a summary",
  run: (ctx) =>
    withLab(ctx, async (access) => {
      const { lab } = access;
      const hosts = ctx.values.hosts
        ? ctx.values.hosts.split(',').map((h) => h.trim())
        : [lab.client.name, lab.director.name, lab.realservers[0].name];
      for (const h of hosts) hostNamed(lab, h); // an unknown name is refused before any capture starts
      console.log(formatCapture(lab, await capture(access, hosts, ctx.requests(4), ctx.values.out ?? 'captures')));
      return 0;
    }),
};

const graph: Command = {
  name: 'graph',
  usage:
    'graph           draw the lab (SVG and PNG): hosts, IPs, MACs, the switch, the VIP, the request and reply paths',
  run: async (ctx) => {
    const out = ctx.values.out ?? 'lab.svg';
    if (!out.endsWith('.svg')) throw new UserError(`--out: "${out}" must end in .svg (the PNG is written beside it)`);
    // Live MACs when the lab runs; the model's planned ones otherwise.
    const settings = ctx.values.stack ? await readStackSettings(ctx.values.stack) : undefined;
    const model = settings?.lab ?? (await ctx.model());
    const access = await ctx.open().catch((err: unknown) => {
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
    const { renderGraph } = await import('../../inside/graph.js');
    const { svg, png } = await renderGraph(access?.lab ?? model, macs, access?.segments ?? segmentsOf(settings));
    await writeFile(out, svg);
    await writeFile(out.replace(/\.svg$/, '.png'), png);
    const whose = access ? 'live MACs from the running lab' : 'the lab is not up: MACs as planned';
    console.log(`wrote ${out} and ${out.replace(/\.svg$/, '.png')} (${whose})`);
    return 0;
  },
};

const explain: Command = {
  name: 'explain',
  usage:
    'explain         one request walked through the TCP/IP steps on live packets: a port, a next hop, ARP, the\n' +
    '                  handshake, the data, the close (--path P, --json, --svg FILE: the ladder diagram)',
  run: (ctx) => {
    const { path = '/', svg, json } = ctx.values;
    if (!URL_PATH.test(path)) throw new UserError(`--path: ${shown(path)} ${URL_PATH_RULE}`);
    if (svg !== undefined && !svg.endsWith('.svg')) throw new UserError(`--svg: ${shown(svg)} must end in .svg`);
    return withLab(ctx, async (access) => {
      const walk = await explainRequest(access, path);
      console.log(json ? JSON.stringify(walk, null, 2) : formatWalk(walk));
      const ladder = ladderSvg(walk, { hosts: hostsOf(access.lab), vip: access.lab.vip });
      await post(access.lab.name, 'ladder', ladder); // a running view shows it
      if (svg) {
        await writeFile(svg, ladder);
        if (!json) console.log(`\nwrote ${svg}: the ladder diagram of these frames`);
      }
      return walk.steps.every((st) => st.expected) ? 0 : 1;
    });
  },
};

export const INSIDE_COMMANDS = [exec, shell, observeCommand, captureCommand, graph, explain];
