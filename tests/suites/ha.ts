// The director pair, proven on a running dr-ha lab: shared by the netns suite (a side lab in the VM) and the Docker
// suite (a dr-ha stack). Failover with requests running, connection sync (and the same without it), failback.
import { describe, expect, it } from 'vitest';
import { directorsOf } from '../../model/topology.js';
import { applyPlan } from '../../provision/apply.js';
import { takeoverWindowSeconds } from '../../provision/keepalived.js';
import { planLab } from '../../provision/plan.js';
import {
  failoverDrill,
  holdConnection,
  type HeldConnection,
  peerOf,
  restoreDirector,
  secondsUntilSoleHolder,
  cutDirector,
} from '../../verify/failover.js';
import { clientNeighborMac, ipvsConnections, macOf, must, syncDaemons, vipHolders } from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { verifyLab } from '../../verify/report.js';
import { applyFault } from '../../drive/fault.js';
import { checkLoadOptions, runLoad } from '../../drive/load.js';
import { expectExercisePasses } from '../exercise.js';
import { explainRequest } from '../../inside/explain.js';
import { untilText } from '../browser.js';
import { withViewPage } from '../view-page.js';

/**
 * Margin past VRRP's window for emulated machines, where keepalived's timers run late: the namespaces of one VM
 * (netns, ssh transports) run on its own cores; a Docker lab's containers share the engine VM's with dockerd.
 */
const SLACK_SECONDS = { netns: 1, ssh: 1, docker: 3 } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A connection held open whose client port had no entry on `director` before it was opened: IPVS keeps a closed
 * connection's entry for minutes (FIN_WAIT, 2 min), synced to the backup too, and after a load the client's ports come
 * round again, so an old entry could stand for the new connection there. Such a connection is ended, another made.
 */
async function holdConnectionNewTo(a: LabAccess, director: string): Promise<HeldConnection> {
  for (let tries = 1; ; tries++) {
    const known = new Set((await ipvsConnections(a, director)).map((c) => c.client));
    const held = await holdConnection(a);
    if (!known.has(held.client)) return held;
    await held.finish();
    if (tries === 3) throw new Error(`${director} held an old entry for each of 3 new connections' client ports`);
  }
}

/**
 * Connection sync through a failover: a connection held open from the client is learned by the backup, the director
 * is cut off, the backup holds the VIP within `within` s, and the connection is answered; `failback` then gives the
 * VIP back (its result defined when it did).
 */
export async function expectHeldConnectionSurvives(
  a: LabAccess,
  within: number,
  failback: () => Promise<number | undefined>,
): Promise<void> {
  const backup = peerOf(a.lab, a.lab.director.name);
  const held = await holdConnectionNewTo(a, backup);
  let synced = false;
  for (let i = 0; i < 50 && !synced; i++) {
    synced = (await ipvsConnections(a, backup)).some((c) => c.client === held.client && c.state === 'ESTABLISHED');
    if (!synced) await sleep(100);
  }
  expect(synced, `${backup} never learned ${held.client} from the sync daemon`).toBe(true);
  await cutDirector(a, a.lab.director.name);
  try {
    expect(await secondsUntilSoleHolder(a, backup, within)).toBeDefined();
    const { response, reset } = await held.finish();
    expect(reset).toBe(false);
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toMatch(/from \d+\.\d+\.\d+\.\d+\s*$/);
  } finally {
    expect(await failback()).toBeDefined();
  }
}

export function haSuite(access: () => LabAccess): void {
  const window = () => takeoverWindowSeconds(access().lab.ha!);
  const limit = () => window() + SLACK_SECONDS[access().transport.kind];

  /**
   * The VRRP window plus what seeing it costs: the change is seen by polling both directors, and one poll takes tens
   * of ms in the VM's namespaces but seconds through the Docker engine VM under load; allow for two of them.
   */
  async function bound(access: LabAccess): Promise<number> {
    const t = Date.now();
    await vipHolders(access);
    return limit() + (2 * (Date.now() - t)) / 1000;
  }

  /** Brings the cut director back and waits until VRRP has given the VIP back to the primary (preemption). */
  async function failback(access: LabAccess, cut: string): Promise<number | undefined> {
    const within = await bound(access);
    await restoreDirector(access, cut);
    // From when the link is known to be up again: the restore's own exec is not part of VRRP's window.
    return secondsUntilSoleHolder(access, access.lab.director.name, within);
  }

  describe('director pair (dr-ha)', () => {
    it('the verifier passes: the VIP on the director alone, keepalived and both sync daemons on each, the backup knows the connections', async () => {
      const checks = await verifyLab(access());
      expect(
        checks.filter((c) => !c.ok),
        JSON.stringify(checks, null, 2),
      ).toEqual([]);
      expect(checks.map((c) => c.name)).toEqual(
        expect.arrayContaining([
          'VRRP: the VIP on exactly one director',
          `the backup (${access().lab.ha!.backup.name}) knows the client's connections (IPVS sync)`,
        ]),
      );
      expect(await vipHolders(access())).toEqual([access().lab.director.name]);
    });

    it('failover: with requests running, the backup holds the VIP within the VRRP window, the client follows its gratuitous ARP, requests succeed again', async () => {
      const a = access();
      const [directorMac, backupMac] = await Promise.all(directorsOf(a.lab).map((d) => macOf(a, d.name)));
      const within = await bound(a);
      const drill = await failoverDrill(a, within, { tailSeconds: 6 });
      try {
        expect(drill.from).toBe(a.lab.director.name);
        expect(drill.takeoverSeconds, `no takeover within ${within} s`).toBeDefined();
        expect(drill.takeoverSeconds!).toBeLessThanOrEqual(within);
        expect(drill.clientMacBefore).toBe(directorMac);
        expect(drill.clientMacAfter).toBe(backupMac);
        // Each failed request waited out its 1 s timeout: at most one per second of this drill's own outage, plus the
        // one in flight when it began and the one the client sent before it took the backup's gratuitous ARP.
        expect(drill.failed).toBeLessThanOrEqual(Math.ceil(drill.takeoverSeconds!) + 2);
        // A request takes about a second in a container of the emulated engine VM: a few land after the takeover.
        const takenOver = drill.requests[0].at + 2 + drill.takeoverSeconds! + 1;
        const late = drill.requests.filter((r) => r.at > takenOver);
        expect(late.length).toBeGreaterThanOrEqual(3);
        expect(late.filter((r) => !r.ok)).toEqual([]);
        expect(new Set(late.map((r) => r.body))).toEqual(new Set(a.lab.realservers.map((r) => `from ${r.ip}`)));
      } finally {
        const back = await failback(a, drill.from);
        expect(back, `${a.lab.director.name} did not take the VIP back in time`).toBeDefined();
      }
    });

    it('the live view shows the VIP move to the backup when the director is cut off, and come back', async () => {
      const a = access();
      const [primary, backup] = directorsOf(a.lab).map((d) => d.name);
      await withViewPage(a, async (page) => {
        expect(await untilText(page, '#holder b', (t) => t !== '…')).toBe(primary);
        const within = await bound(a);
        await cutDirector(a, primary);
        try {
          await untilText(page, '#holder b', (t) => t === backup, within + 3);
        } finally {
          expect(await failback(a, primary)).toBeDefined();
        }
        await untilText(page, '#holder b', (t) => t === primary, 5);
      });
    });

    it('explain names the director holding the VIP, and walks the request through it as DR does', async () => {
      const w = await explainRequest(access());
      expect(w.holders).toEqual([access().lab.director.name]);
      expect(w.steps.filter((st) => !st.expected).map((st) => st.title)).toEqual([]);
      expect(w.steps[2].says[0]).toMatch(new RegExp(`answered by ${access().lab.director.name} alone`));
    });

    it('failback: the returning director takes the VIP back (preemption) and the client follows', async () => {
      const a = access();
      expect(await vipHolders(a)).toEqual([a.lab.director.name]);
      // The client's entry moves back on the director's gratuitous ARP; give it one request to be sure it is used.
      await must(a, a.lab.client.name, `curl -s --max-time 2 http://${a.lab.vip}:${a.lab.service.port}/ >/dev/null`);
      expect(await clientNeighborMac(a)).toBe(await macOf(a, a.lab.director.name));
    });

    it('`load` across `fault <director> link down`: the VIP moves, load loses at most what the window holds, `link up` brings it back', async () => {
      const a = access();
      const director = a.lab.director.name;
      const backup = peerOf(a.lab, director);
      const within = await bound(a);
      const concurrency = 2;
      const running = runLoad(
        a,
        checkLoadOptions({ duration: Math.ceil(within) + 8, concurrency, clients: 1, path: '/' }),
      );
      await sleep(3_000);
      try {
        await applyFault(a, director, { kind: 'link', up: false });
        expect(await secondsUntilSoleHolder(a, backup, within), `${backup} did not take the VIP`).toBeDefined();
        const r = await running;
        const e = r.errors;
        const lost = e.refused + e.reset + e.timeout + e.other + Object.values(e.status).reduce((x, y) => x + y, 0);
        // Each of wrk's connections waits 2 s for an answer, then tries again: within VRRP's window at most one lost
        // per connection per 2 s, plus the one in flight when the link went and the one sent before the client took
        // the backup's gratuitous ARP.
        expect(lost, JSON.stringify(e)).toBeLessThanOrEqual(concurrency * (Math.ceil(within / 2) + 2));
        expect(Object.values(r.share).reduce((x, y) => x + y, 0)).toBeGreaterThan(lost);
      } finally {
        await running.catch(() => undefined);
        await applyFault(a, director, { kind: 'link', up: true });
        expect(await secondsUntilSoleHolder(a, director, await bound(a))).toBeDefined();
      }
    });

    it('the director-pair exercise (labs/director-pair.yaml): every declared check passes', async () => {
      await expectExercisePasses(access(), 'director-pair.yaml');
    });

    it('connection sync: a connection opened before the failover is known to the backup and carries on after it', async () => {
      const a = access();
      await expectHeldConnectionSurvives(a, await bound(a), () => failback(a, a.lab.director.name));
    });

    it('without sync the same connection is reset by the new MASTER; re-applying the plan starts the sync daemons again', async () => {
      const a = access();
      const backup = peerOf(a.lab, a.lab.director.name);
      for (const d of directorsOf(a.lab)) {
        await must(a, d.name, 'ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup');
        expect(await syncDaemons(a, d.name), d.name).toEqual([]);
      }
      const held = await holdConnectionNewTo(a, backup);
      await sleep(2_000); // what sync would have needed to send it
      const known = (await ipvsConnections(a, backup)).filter((c) => c.client === held.client);
      // If the backup knows it after all, how: its daemons, who holds the VIP, where the client sends.
      const how = async () =>
        JSON.stringify({
          known,
          primaryKnows: (await ipvsConnections(a, a.lab.director.name)).some((c) => c.client === held.client),
          daemons: await Promise.all(directorsOf(a.lab).map((d) => syncDaemons(a, d.name))),
          holders: await vipHolders(a),
          clientMac: await clientNeighborMac(a),
          macs: await Promise.all(directorsOf(a.lab).map((d) => macOf(a, d.name))),
        });
      if (known.length > 0) expect(known, await how()).toEqual([]);
      const within = await bound(a);
      await cutDirector(a, a.lab.director.name);
      try {
        expect(await secondsUntilSoleHolder(a, backup, within)).toBeDefined();
        // The new MASTER knows nothing of the connection: its realserver resets it, and no answer comes.
        const { response, reset, detail } = await held.finish();
        expect(reset, `what came back: ${JSON.stringify(response)}; the client's end: ${detail}`).toBe(true);
        expect(response).toBe('');
      } finally {
        expect(await failback(a, a.lab.director.name)).toBeDefined();
      }
      const report = await applyPlan(planLab(a.lab, { httpd: a.httpd }), a.transport);
      const ran = report.outcomes.filter((o) => o.result === 'ran').map((o) => `${o.host}: ${o.command}`);
      const id = a.lab.ha!.virtualRouterId;
      expect(ran.sort()).toEqual(
        directorsOf(a.lab)
          .flatMap((d) =>
            ['master', 'backup'].map(
              (r) => `${d.name}: ipvsadm --start-daemon ${r} --mcast-interface eth0 --syncid ${id}`,
            ),
          )
          .sort(),
      );
    });
  });
}
