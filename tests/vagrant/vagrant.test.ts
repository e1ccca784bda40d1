// The vagrant testbed, end to end: the DR suite against four Vagrant machines (each its own kernel, ARP table and
// sysctls), the negative control on the same machines, the verifier, `down` leaving the machine as before, then a
// NAT lab built and removed the same way. One file: its parts run in this order.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { inject, afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPreset } from '../../model/presets.js';
import { applyPlan } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { KIT_SOCKET, libvirtUri, virsh } from '../../testbed/vagrant/libvirt.js';
import { vagrant } from '../../testbed/vagrant/testbed.js';
import type { VagrantState } from '../../testbed/vagrant/state.js';
import {
  arpResponders,
  clientNeighborMac,
  fetchSequence,
  flushClientNeighbors,
  ipvsStats,
  ipvsStatsAfter,
  macsOf,
  readyArpTry,
} from '../../verify/probes.js';
import { verifyLab } from '../../verify/report.js';
import { drSuite } from '../suites/dr.js';
import { cli, cliInTerminal } from '../integration/lab.js';
import { footprint, VAGRANT_LAB, VAGRANT_LABS } from './lab.js';

const lab = VAGRANT_LAB;
const log = (msg: string) => console.log(`[vagrant] ${msg}`);

describe('the reference lab on Vagrant machines', () => {
  // In a block of its own, so its session is closed before `down` below.
  describe('DR suite', () => drSuite(lab, () => labs.connect(lab.name)));

  describe('as a Vagrant project', () => {
    it('is a usable Vagrantfile: `vagrant status` lists the four machines running', async () => {
      const state = await labs.state(lab.name);
      const status = await vagrant((state!.testbedState as VagrantState).dir, ['status', '--machine-readable']);
      expect(status.exitCode).toBe(0);
      const running = [...status.stdout.matchAll(/^\d+,([a-z0-9-]+),state,running$/gm)].map((m) => m[1]).sort();
      expect(running).toEqual(['client', 'director', 'rs1', 'rs2']);
    });

    it("each machine has a host key of its own, pinned, not the box's; the kit's libvirtd answers only its own socket", async () => {
      const v = (await labs.state(lab.name))!.testbedState as VagrantState;
      const keys = Object.values(v.hostKeys ?? {});
      expect(Object.keys(v.hostKeys ?? {}).sort()).toEqual(['client', 'director', 'rs1', 'rs2']);
      expect(new Set(keys).size).toBe(4);
      expect(keys).not.toContain(v.hostKey);
      // Each machine serves the key the state pinned: a fresh session of another process reaches every one.
      const again = await labs.connect(lab.name);
      try {
        for (const h of ['client', 'director', 'rs1', 'rs2'])
          expect((await again.transport.run(h, 'hostname')).stdout.trim()).toBe(h);
      } finally {
        await again.close();
      }
      if (v.netns) {
        expect(libvirtUri()).toBe(`qemu:///system?socket=${KIT_SOCKET}`);
        expect((statSync(KIT_SOCKET).mode & 0o077).toString(8)).toBe('0');
        expect((statSync(dirname(KIT_SOCKET)).mode & 0o777).toString(8)).toBe('700');
      }
    });

    it('each machine has its own kernel: its own hostname, boot id and the lab NIC as eth0 with its MAC', async () => {
      const s = await labs.connect(lab.name);
      try {
        const seen = await Promise.all(
          [lab.client, lab.director, ...lab.realservers].map(async (h) => {
            const out = (
              await s.transport.run(
                h.name,
                'hostname; cat /proc/sys/kernel/random/boot_id; cat /sys/class/net/eth0/address',
              )
            ).stdout
              .trim()
              .split('\n');
            return { host: h.name, hostname: out[0], bootId: out[1], mac: out[2] };
          }),
        );
        expect(seen.map((x) => x.hostname)).toEqual(['client', 'director', 'rs1', 'rs2']);
        expect(new Set(seen.map((x) => x.bootId)).size).toBe(4);
        expect(seen.map((x) => x.mac)).toEqual([
          '02:00:c0:a8:aa:0a',
          '02:00:c0:a8:aa:65',
          '02:00:c0:a8:aa:66',
          '02:00:c0:a8:aa:67',
        ]);
        // no guest has a route out: the management network is isolated and DHCP gives no gateway
        for (const h of seen)
          expect((await s.transport.run(h.host, 'ip -4 route show default')).stdout.trim(), h.host).toBe('');
      } finally {
        await s.close();
      }
    });
  });

  describe('working inside', () => {
    it("exec runs on the machine itself and exits with the command's status", async () => {
      const res = await cli(['exec', 'rs2', '--name', lab.name, '--', 'sh', '-c', 'hostname; exit 4']);
      expect(res.stdout.trim()).toBe('rs2');
      expect(res.exitCode).toBe(4);
    });

    it('load and fault work on the machines: 10 connections 5/5, netem listed and cleared, a machine suspended and resumed', async () => {
      const loaded = await cli(['load', '--name', lab.name, '--requests', '10', '--concurrency', '1', '--json']);
      expect(loaded.exitCode, loaded.stderr).toBe(0);
      expect((JSON.parse(loaded.stdout) as { share: Record<string, number> }).share).toEqual({ rs1: 5, rs2: 5 });
      const fault = (...words: string[]) => cli(['fault', ...words, '--name', lab.name]);
      try {
        expect((await fault('rs1', 'delay', '100ms')).exitCode).toBe(0);
        expect((await fault('--list')).stdout).toContain('rs1: netem on eth0: delay 100ms');
        const stop = await fault('rs2', 'host', 'stop');
        expect(stop.exitCode, stop.stderr).toBe(0);
        // The machine itself is suspended (libvirt says so), and a new session still opens the lab beside it.
        const state = await virsh(['domstate', `lvs-lab-${lab.name}-rs2`]);
        expect(state.stdout.trim()).toBe('paused');
        expect((await fault('--list')).stdout).toContain('rs2: host stopped');
        const refused = await cli(['exec', 'rs2', '--name', lab.name, '--', 'true']);
        expect(refused.stderr).toContain('rs2 is stopped');
        const started = await fault('rs2', 'host', 'start');
        expect(started.exitCode, started.stderr).toBe(0);
      } finally {
        await fault('rs1', 'clear');
        await fault('rs2', 'clear');
      }
      expect((await fault('--list')).stdout).toContain('no faults in force');
      const again = await cli(['load', '--name', lab.name, '--requests', '10', '--concurrency', '1', '--json']);
      expect((JSON.parse(again.stdout) as { share: Record<string, number> }).share).toEqual({ rs1: 5, rs2: 5 });
    });

    it('shell opens a terminal on the machine through the namespace, and `exit` leaves it', async () => {
      const res = await cliInTerminal(['shell', 'director', '--name', lab.name], 'hostname\nexit\n');
      expect(res.exitCode).toBe(0);
      expect(res.stdout).toContain(`[lvs-lab ${lab.name}:director]`);
      expect(res.stdout).toMatch(/^director\r?$/m);
    });
  });

  describe('verifier', () => {
    it('passes every DR check', async () => {
      const s = await labs.connect(lab.name);
      try {
        const checks = await verifyLab(s);
        expect(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.evidence}`)).toEqual([]);
        expect(checks.length).toBeGreaterThanOrEqual(6);
      } finally {
        await s.close();
      }
    });
  });

  describe('negative control: the realservers without the ARP sysctls', () => {
    let s: LabSession;
    beforeAll(async () => {
      s = await labs.connect(lab.name);
      for (const r of lab.realservers)
        await s.transport.run(
          r.name,
          'for d in all eth0; do echo 0 > /proc/sys/net/ipv4/conf/$d/arp_ignore; echo 0 > /proc/sys/net/ipv4/conf/$d/arp_announce; done',
        );
    });
    afterAll(async () => s?.close());

    it('the realservers answer ARP for the VIP, the client caches one of them and bypasses the director', async () => {
      const macs = await macsOf(s);
      const responders = new Set(await arpResponders(s, 3));
      expect(responders).toContain(macs.get(lab.director.name));
      expect(lab.realservers.some((r) => responders.has(macs.get(r.name)!))).toBe(true);
      // Which reply the client keeps is a race; readyArpTry alternates it with a realserver's own request.
      let bypassed: string | undefined;
      const winners: string[] = [];
      for (let i = 0; i < 6 && !bypassed; i++) {
        const how = await readyArpTry(s, i);
        await fetchSequence(s, 1);
        const cached = await clientNeighborMac(s);
        bypassed = lab.realservers.find((r) => macs.get(r.name) === cached)?.name;
        winners.push(`${[...macs].find(([, m]) => m === cached)?.[0] ?? cached} (${how})`);
      }
      expect(bypassed, `a realserver won the ARP race; the winners: ${winners.join(', ')}`).toBeDefined();
      // A request of the race that went through the director is counted on the estimator's next tick: wait for it,
      // so the baseline holds every connection made before the six below.
      await new Promise((r) => setTimeout(r, 2_500));
      const before = await ipvsStats(s);
      const bodies = await fetchSequence(s, 6);
      expect(bodies).toEqual(Array(6).fill(`from ${lab.realservers.find((r) => r.name === bypassed)!.ip}`));
      await new Promise((r) => setTimeout(r, 2_500)); // the IPVS estimator's tick
      expect((await ipvsStats(s)).conns).toBe(before.conns);
    });

    it('re-applying the plan puts the sysctls back, and DR works again', async () => {
      const report = await applyPlan(planLab(lab, { httpd: s.httpd }), s.transport);
      expect(report.outcomes.filter((o) => o.result === 'ran').map((o) => `${o.host}: ${o.command}`)).toEqual(
        lab.realservers.flatMap((r) => [
          `${r.name}: echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore`,
          `${r.name}: echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce`,
          `${r.name}: echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore`,
          `${r.name}: echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce`,
        ]),
      );
      const macs = await macsOf(s);
      expect(new Set(await arpResponders(s, 3))).toEqual(new Set([macs.get(lab.director.name)]));
      await flushClientNeighbors(s);
      const before = await ipvsStats(s);
      await fetchSequence(s, 4);
      expect((await ipvsStatsAfter(s, before, 4)).conns - before.conns).toBe(4);
    });
  });

  describe('down', () => {
    it('leaves no domain, network, volume, namespace, daemon, process or state of the lab', async () => {
      expect(await labs.down(lab.name, { log })).toBe(true);
      expect(await footprint()).toEqual(inject('footprintBefore'));
    });
  });
});

describe('a NAT lab on Vagrant machines', () => {
  const nat = { ...withPreset('nat-rr', {}, 'vagrant suite'), name: VAGRANT_LABS[1] };

  it('builds, passes every check of the verifier (replies back through the director), and goes without a trace', async () => {
    const { session } = await labs.up(nat, { testbed: 'vagrant', log });
    try {
      const checks = await verifyLab(session);
      expect(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.evidence}`)).toEqual([]);
      expect(checks.map((c) => c.name)).toContain('replies come back through the director (NAT)');
      // the client really is on the other network: its only address is on the outside subnet
      expect((await session.transport.run(nat.client.name, 'ip -4 -o addr show dev eth0')).stdout).toContain(
        `inet ${nat.client.ip}/24`,
      );
    } finally {
      // down while this session is still open: its connections lose their machines under them
      await labs.down(nat.name, { log });
    }
    // ... which is an error for the next command, not a crash of this process
    await expect(session.transport.run(nat.director.name, 'true')).rejects.toThrow();
    await session.close();
    expect(await footprint()).toEqual(inject('footprintBefore'));
  });
});
