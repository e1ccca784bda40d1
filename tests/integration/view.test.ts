// `lab view` on the running test lab, through the CLI, its page in a real headless Chromium: every host and the VIP
// holder shown, the counts rising under `load`, a fault and the last explain appearing, Ctrl-C and `down` ending it
// with nothing left. The pair's and the health checker's pages: the HA suite and health.test.ts.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { hostsOf } from '../../model/topology.js';
import { boardDir } from '../../view/board.js';
import { openPage, untilText } from '../browser.js';
import { cli, startCli, TEST_LAB } from './lab.js';

const NAME = ['--name', TEST_LAB.name];
const URL_LINE = /view of lab \w+: (http:\/\/127\.0\.0\.1:\d+\/)/;
const count = (page: Page, rs: string) => untilText(page, `tr[data-rs="${rs}"] .conns`, () => true).then(Number);

describe('the bind and the port are checked before anything runs', () => {
  it.each([
    [['--bind', '0.0.0.0'], /--bind: "0\.0\.0\.0" is not a loopback address/],
    [['--bind', '192.168.170.10'], /--bind: "192\.168\.170\.10" is not a loopback address/],
    [['--port', '70000'], /--port: "70000" must be a port number/],
  ])('view %j: exit 2', async (args, message) => {
    const res = await cli(['view', ...args, ...NAME]);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toMatch(message);
  });
});

describe.sequential('view of the running test lab, in Chromium', () => {
  let run: ReturnType<typeof startCli>;
  let url: string;
  let page: Page;
  let closeBrowser: () => Promise<void>;

  beforeAll(async () => {
    run = startCli(['view', ...NAME]);
    await run.until((out) => URL_LINE.test(out));
    url = URL_LINE.exec(run.output())![1];
    ({ page, close: closeBrowser } = await openPage(url));
  });
  afterAll(async () => {
    await closeBrowser?.();
    run?.signal('SIGINT');
  });

  it('shows every host in the picture and the director holding the VIP', async () => {
    const picture = (await page.locator('#graph svg').textContent()) ?? '';
    for (const h of hostsOf(TEST_LAB)) {
      expect(picture).toContain(h.name);
      expect(picture).toContain(h.ip);
    }
    expect(await untilText(page, '#holder b', (t) => t === TEST_LAB.director.name)).toBe('director');
    for (const rs of TEST_LAB.realservers)
      expect(await untilText(page, `tr[data-rs="${rs.name}"] .state`, (t) => t !== '')).toBe('in the table');
  });

  it('under `load` the new connections per realserver rise, and the load run shows on the page', async () => {
    const before = await Promise.all(TEST_LAB.realservers.map((r) => count(page, r.name)));
    const load = await cli(['load', ...NAME, '--requests', '20', '--concurrency', '1']);
    expect(load.exitCode, load.stderr).toBe(0);
    for (const [i, rs] of TEST_LAB.realservers.entries())
      await untilText(page, `tr[data-rs="${rs.name}"] .conns`, (t) => Number(t) >= before[i] + 10);
    await untilText(page, '#load pre', (t) => t.startsWith('load: 20 requests to 192.168.170.100:80'));
  });

  it('a fault in force is listed, and gone once cleared; the last explain is drawn', async () => {
    expect((await cli(['fault', 'rs1', 'delay', '50ms', ...NAME])).exitCode).toBe(0);
    try {
      await untilText(page, '#faults', (t) => t.includes('rs1: netem on eth0: delay 50ms'));
    } finally {
      expect((await cli(['fault', 'rs1', 'clear', ...NAME])).exitCode).toBe(0);
    }
    await untilText(page, '#faults', (t) => t === 'none');
    expect((await cli(['explain', ...NAME])).exitCode).toBe(0);
    await page.locator('#ladder img:not([hidden])').waitFor({ timeout: 30_000 });
    const ladder = await (await fetch(`${url}explain.svg`)).text();
    for (const h of hostsOf(TEST_LAB)) expect(ladder).toContain(`>${h.name}<`);
  });

  it('answers only to its own address: another Host header is refused', async () => {
    // node:http, not fetch: fetch sets the Host header itself, whatever it is given.
    const status = await new Promise<number | undefined>((resolve, reject) =>
      request(url, { headers: { host: 'example.org' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end(),
    );
    expect(status).toBe(403);
  });

  it('Ctrl-C stops it: the page is told, the port closes, its board goes, exit 0', async () => {
    run.signal('SIGINT');
    const { code } = await run.exited;
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/view stopped: Ctrl-C/);
    await untilText(page, '#status', (t) => t === 'view stopped: Ctrl-C');
    await expect(fetch(url)).rejects.toThrow();
    expect(existsSync(boardDir(TEST_LAB.name))).toBe(false);
  });
});

describe('`down` ends the view of the lab it removes', () => {
  const name = 'vw';
  afterAll(async () => void (await cli(['down', '--name', name])));

  it('the view says the lab was taken down and exits 0, leaving no board', async () => {
    const up = await cli(['up', '--name', name, '--testbed', 'vm', '--no-verify']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    const run = startCli(['view', '--name', name]);
    try {
      await run.until((out) => URL_LINE.test(out));
      expect((await cli(['down', '--name', name])).exitCode).toBe(0);
      const { code } = await run.exited;
      expect(code, run.output()).toBe(0);
      expect(run.output()).toMatch(/view stopped: the lab was taken down/);
      expect(existsSync(boardDir(name))).toBe(false);
    } finally {
      run.signal('SIGINT');
    }
  });
});
