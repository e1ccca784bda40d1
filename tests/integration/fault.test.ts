// `lab fault` on the running test lab, through the CLI: each fault does to the lab what it says (read from packets'
// timing, answers and the kernel), `fault --list` reads it back, and clearing it gives the lab back whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { cli, TEST_LAB } from './lab.js';

const lab = TEST_LAB;
const [rs1, rs2] = lab.realservers;
let s: LabSession;

beforeAll(async () => {
  s = await labs.connect(lab.name);
});
afterAll(async () => {
  for (const h of ['director', 'rs1', 'rs2']) await cli(['fault', h, 'clear', '--name', lab.name]);
  await s?.close();
});

const fault = (...words: string[]) => cli(['fault', ...words, '--name', lab.name]);
const listed = async () => (await fault('--list')).stdout;

/** One request from the client: its curl exit status and time, and the body. */
async function request(ip: string, maxTime = 3): Promise<{ code: number; seconds: number; body: string }> {
  const res = await s.transport.run(
    lab.client.name,
    `curl -s --max-time ${maxTime} -w '\\n%{time_total}' http://${ip}/`,
  );
  const lines = res.stdout.trim().split('\n').filter(Boolean);
  return { code: res.code, seconds: Number(lines.pop()), body: lines.join('\n') };
}

describe('lab fault', () => {
  it('refuses an unknown host, an unknown fault and out-of-range values with exit 2, changing nothing', async () => {
    for (const [words, message] of [
      [['rs9', 'loss', '5%'], 'host "rs9" is not in lab'],
      [['rs1', 'explode'], 'fault: "explode" is not a fault'],
      [['rs1', 'delay', '-5ms'], 'fault: delay "-5ms": must be a time'],
      [['rs1', 'loss', '140%'], 'fault: loss "140%": must be a percentage'],
      [['client', 'httpd', 'stop'], 'httpd runs on the realservers'],
    ] as const) {
      const res = await fault(...words);
      expect(res.stderr).toContain(message);
      expect(res.exitCode).toBe(2);
    }
    expect(await listed()).toContain(`lab ${lab.name}: no faults in force`);
  });

  it('delay: tc netem on the realserver slows every packet it sends; clear removes it', async () => {
    const res = await fault('rs1', 'delay', '300ms');
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await listed()).toContain('rs1: netem on eth0: delay 300ms');
    expect((await cli(['status'])).stdout).toMatch(
      new RegExp(`^${lab.name}: .*\n {2}faults: rs1: netem on eth0: delay 300ms$`, 'm'),
    );
    const [slow, fast] = [await request(rs1.ip), await request(rs2.ip)];
    // The SYN-ACK and the response each wait 300 ms on rs1's way out.
    expect(slow.seconds).toBeGreaterThanOrEqual(0.6);
    expect(slow.seconds - fast.seconds).toBeGreaterThan(0.4);
    expect((await fault('rs1', 'clear')).exitCode).toBe(0);
    expect(await listed()).toContain('no faults in force');
    expect((await request(rs1.ip)).seconds).toBeLessThan(slow.seconds - 0.4);
  });

  it('httpd stop: the realserver refuses connections and verify says which fault is in force; start serves again', async () => {
    expect((await fault('rs1', 'httpd', 'stop')).exitCode).toBe(0);
    expect(await listed()).toContain('rs1: httpd stopped');
    expect((await request(rs1.ip)).code).toBe(7); // curl: could not connect
    const verify = await cli(['verify', '--name', lab.name]);
    expect(verify.stdout).toMatch(/^faults in force:\n {2}rs1: httpd stopped$/m);
    expect(verify.exitCode).toBe(1);
    expect((await fault('rs1', 'httpd', 'start')).exitCode).toBe(0);
    expect((await request(rs1.ip)).body).toBe(`from ${rs1.ip}`);
  });

  it('up leaves faults alone: refused while one is in force that it would undo, unless --clear-faults', async () => {
    expect((await fault('rs1', 'httpd', 'stop')).exitCode).toBe(0);
    const refused = await cli(['up', '--name', lab.name, '--no-verify']);
    expect(refused.stderr).toContain(
      `lab ${lab.name} has faults in force that re-applying its plan would undo (rs1: httpd stopped)`,
    );
    expect(refused.exitCode).toBe(2);
    expect(await listed()).toContain('rs1: httpd stopped'); // untouched
    const cleared = await cli(['up', '--name', lab.name, '--no-verify', '--clear-faults']);
    expect(cleared.exitCode, cleared.stderr).toBe(0);
    expect(cleared.stdout).toContain('rs1: every fault cleared');
    expect(await listed()).toContain('no faults in force');
  });

  it('link down on the director: the VIP stops answering; link up brings it back with its plan', async () => {
    expect((await fault('director', 'link', 'down')).exitCode).toBe(0);
    expect(await listed()).toContain('director: link eth0 down');
    expect((await request(lab.vip, 2)).code).not.toBe(0);
    expect((await fault('director', 'link', 'up')).exitCode).toBe(0);
    expect((await request(lab.vip)).body).toMatch(/^from 192\.168\.170\.10[23]$/);
  });

  it('host stop: the realserver is gone (its processes stopped, links down); host start brings it back', async () => {
    expect((await fault('rs2', 'host', 'stop')).exitCode).toBe(0);
    expect(await listed()).toContain('rs2: host stopped');
    expect((await request(rs2.ip, 2)).code).not.toBe(0);
    expect((await fault('rs2', 'host', 'start')).exitCode).toBe(0);
    expect(await listed()).toContain('no faults in force');
    expect((await request(rs2.ip)).body).toBe(`from ${rs2.ip}`);
  });
});
