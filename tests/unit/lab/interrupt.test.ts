// Ctrl-C during a test suite that holds a lab: the teardown finishes before the process exits, even where the test
// runner's own listener would exit at once (vitest's left the integration suite's VM running); after the untrap the
// runner's listener is back.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('../fixtures/teardown-on-signal.ts', import.meta.url));

/** Runs the fixture, sends it SIGINT once it is ready, and returns its exit code and output. */
function interrupted(...args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n') && !out.includes('(sent)')) {
        out += '(sent)\n';
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('teardownOnSignal', () => {
  it("finishes the teardown before exiting 130, the runner's own listener set aside", async () => {
    const { code, out } = await interrupted();
    expect(out).toContain('SIGINT: removing the lab before exiting');
    expect(out).toContain('teardown finished');
    expect(out).toContain('interrupted: removed the lab');
    expect(code).toBe(130);
  });

  it("puts the runner's listener back when untrapped", async () => {
    const { code, out } = await interrupted('untrap');
    expect(out).not.toContain('teardown finished');
    expect(code).toBe(1);
  });
});
