// `lab load` on the running test lab, through the CLI: the share per realserver is what the scheduler does to fresh
// connections (rr and wrr exactly, for requests made one at a time), source hashing pins each client address, and a slowed
// realserver gets fewer connections under lc than under rr. The lab is put back to rr and cleared after each.
import { afterAll, describe, expect, it } from 'vitest';
import type { LoadResult } from '../../drive/load.js';
import { cli, TEST_LAB } from './lab.js';

const lab = TEST_LAB;
const load = async (...args: string[]): Promise<LoadResult> => {
  const res = await cli(['load', '--name', lab.name, '--json', ...args]);
  expect(res.exitCode, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as LoadResult;
};
const scheduler = async (preset?: string) => {
  const res = await cli(['up', '--name', lab.name, '--no-verify', ...(preset ? ['--preset', preset] : [])]);
  expect(res.exitCode, res.stderr).toBe(0);
};

afterAll(async () => {
  await cli(['fault', 'rs1', 'clear', '--name', lab.name]);
  await scheduler();
});

describe('lab load', () => {
  it('refuses bad numbers and paths with exit 2 before reaching the lab', async () => {
    for (const [args, message] of [
      [['--requests', '0'], '--requests: 0 must be a whole number from 1'],
      [['--requests', '5', '--duration', '5'], '--requests and --duration: give one'],
      [['--concurrency', 'many'], '--concurrency: "many" must be a whole number'],
      [['--path', 'x y'], '--path: "x y" must be a URL path'],
      [['--clients', '100'], '--clients: 100 must be a whole number from 1 to 64'],
    ] as const) {
      const res = await cli(['load', '--name', lab.name, ...args]);
      expect(res.stderr).toContain(message);
      expect(res.exitCode).toBe(2);
    }
  });

  it('rr: 40 fresh connections one at a time give exactly 20 to each realserver, as predicted, without errors', async () => {
    const r = await load('--requests', '40', '--concurrency', '1');
    expect(r.requests).toBe(40);
    expect(r.share).toEqual({ rs1: 20, rs2: 20 });
    expect(r.predicted).toEqual({ rs1: 0.5, rs2: 0.5 });
    expect(r.errors).toEqual({ refused: 0, reset: 0, timeout: 0, status: {}, other: 0 });
    expect(Object.keys(r.connections).length).toBeGreaterThan(0); // the director's table saw them
    const text = await cli(['load', '--name', lab.name, '--requests', '10', '--concurrency', '2']);
    expect(text.stdout).toMatch(/^share per realserver \(measured \| predicted; rr: an equal share each\):$/m);
    expect(text.stdout).toMatch(/^errors: none$/m);
  });

  it('wrr 3:1: 40 fresh connections one at a time give 30 and 10, as the weights predict', async () => {
    await scheduler('dr-wrr');
    const r = await load('--requests', '40', '--concurrency', '1');
    expect(r.share).toEqual({ rs1: 30, rs2: 10 });
    expect(r.predicted).toEqual({ rs1: 0.75, rs2: 0.25 });
    await scheduler();
  });

  it('sh with four client addresses: each address always reaches one realserver', async () => {
    await scheduler('dr-sh');
    const r = await load('--requests', '40', '--clients', '4');
    expect(r.requests).toBe(40);
    expect(Object.keys(r.byClient!)).toHaveLength(4);
    for (const reached of Object.values(r.byClient!)) expect(reached).toHaveLength(1);
    await scheduler();
  });

  it('with rs1 delayed 200 ms, lc sends it clearly fewer connections than rr does', async () => {
    expect((await cli(['fault', 'rs1', 'delay', '200ms', '--name', lab.name])).exitCode).toBe(0);
    const share = (r: LoadResult) => r.share.rs1 / (r.share.rs1 + r.share.rs2);
    const rr = await load('--duration', '5', '--concurrency', '8');
    await scheduler('dr-lc');
    const lc = await load('--duration', '5', '--concurrency', '8');
    expect(share(rr)).toBeGreaterThan(0.4); // rr alternates whatever the realserver's speed
    expect(share(lc)).toBeLessThan(0.35); // lc: rs1 holds its slow connections longer, so it gets fewer new ones
    expect(share(rr) - share(lc)).toBeGreaterThan(0.1);
  });
});
