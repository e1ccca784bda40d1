// The live view's pieces that need no lab: the board other commands post to, the page (the bind and port checks:
// tests/unit/cli/view.test.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLab } from '../../../model/topology.js';
import { boardDir, claimBoard, post, read, writtenAt } from '../../../view/board.js';
import { pageHtml } from '../../../view/page.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvs-lab-view-'));
  process.env.LVS_LAB_STATE_DIR = dir;
});
afterAll(() => {
  delete process.env.LVS_LAB_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

describe('the board', () => {
  it('takes posts only while a view holds it, one view per lab, and goes with the view', async () => {
    await post('bd', 'load', 'nobody watches');
    expect(existsSync(boardDir('bd'))).toBe(false);
    const board = await claimBoard('bd');
    await post('bd', 'load', 'load running: 5 responses so far');
    expect(await read(board.dir, 'load')).toBe('load running: 5 responses so far');
    expect(await writtenAt(board.dir, 'load')).toBeGreaterThan(0);
    expect(await writtenAt(board.dir, 'ladder')).toBeUndefined();
    expect(readFileSync(join(board.dir, 'pid'), 'utf8').trim()).toBe(String(process.pid));
    // Another live process's board is refused (this test's parent stands in for a second view).
    const other = await claimBoard('bd2');
    writeFileSync(join(other.dir, 'pid'), `${process.ppid}\n`);
    await expect(claimBoard('bd2')).rejects.toThrow(/lab bd2 is already shown by another view \(pid \d+\)/);
    await other.release();
    await board.release();
    expect(existsSync(boardDir('bd'))).toBe(false);
  });

  it('takes over the board of a view that is gone', async () => {
    const old = await claimBoard('bd3');
    writeFileSync(join(old.dir, 'pid'), '999999999\n');
    const board = await claimBoard('bd3');
    expect(readFileSync(join(board.dir, 'pid'), 'utf8').trim()).toBe(String(process.pid));
    await board.release();
  });
});

describe('the page', () => {
  it('names the lab, holds the picture inline, and puts names in as text, never markup', () => {
    const lab = validateLab({ name: 'pg' }, 'test');
    const html = pageHtml(lab, '<?xml version="1.0"?>\n<svg><text>client</text></svg>');
    expect(html).toContain('<title>lab pg: DR, rr, VIP 192.168.170.100:80</title>');
    expect(html).toContain('<figure id="graph"><svg><text>client</text></svg></figure>');
    expect(html).not.toContain('<?xml');
    expect(html).toContain("new EventSource('/events')");
    expect(html).not.toMatch(/innerHTML = [^'<]/); // only the bar's fixed markup
  });
});
