import { describe, expect, it } from 'vitest';
import { referenceLab, validateLab } from '../../model/topology.js';
import { applyPlan, StepFailed } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import type { ExecResult } from '../../provision/shell.js';
import type { Transport } from '../../provision/transport.js';

/** A transport over a fake machine: records every command, and answers from a rule list. */
function fakeTransport(answer: (host: string, command: string) => ExecResult | undefined) {
  const calls: Array<[string, string]> = [];
  const transport: Transport = {
    kind: 'netns',
    run: async (host, command) => {
      calls.push([host, command]);
      await new Promise((r) => setTimeout(r, 1)); // let hosts interleave as they would
      return answer(host, command) ?? { stdout: '', stderr: '', code: 0 };
    },
  };
  return { transport, calls };
}

const plan = planLab(referenceLab(), { httpd: { kind: 'instance', root: '/run/lvs-lab/lvs' } });
const stepCount = plan.hosts.reduce((n, h) => n + h.steps.length, 0);
const notDone = { stdout: '', stderr: '', code: 1 };

describe('apply', () => {
  it('runs every step whose check fails, host by host in plan order', async () => {
    const { transport, calls } = fakeTransport((_h, cmd) => (isCheck(cmd) ? notDone : undefined));
    const report = await applyPlan(plan, transport);
    const ran = (host: string) => calls.filter(([h, c]) => h === host && !isCheck(c)).map(([, c]) => c);
    for (const { host, steps } of plan.hosts) expect(ran(host.name)).toEqual(steps.map((s) => s.command));
    expect(report.changed).toBe(stepCount - 1); // ipvsadm -ln only shows
    expect(report.inPlace).toBe(0);
  });

  it('changes nothing when every check says the step is in place', async () => {
    const { transport, calls } = fakeTransport(() => undefined);
    const report = await applyPlan(plan, transport);
    expect(report.changed).toBe(0);
    expect(report.inPlace).toBe(stepCount - 1);
    expect(calls.filter(([, c]) => c.startsWith('ipvsadm -A') || c.includes('-k start'))).toEqual([]);
  });

  it('returns the output of showing steps', async () => {
    const { transport } = fakeTransport((_h, cmd) =>
      cmd === 'ipvsadm -ln' ? { stdout: 'TCP  192.168.170.100:80 rr\n', stderr: '', code: 0 } : isCheck(cmd) ? notDone : undefined,
    );
    const report = await applyPlan(plan, transport);
    expect(report.outcomes.find((o) => o.result === 'shown')).toMatchObject({ host: 'director', output: 'TCP  192.168.170.100:80 rr\n' });
  });

  it('stops a host at its first failing step, with host, command, exit code and stderr', async () => {
    const { transport, calls } = fakeTransport((host, cmd) =>
      isCheck(cmd) ? notDone : host === 'director' && cmd.startsWith('ipvsadm -A') ? { stdout: '', stderr: 'Memory allocation problem\n', code: 2 } : undefined,
    );
    const err = await applyPlan(plan, transport).catch((e) => e);
    expect(err).toBeInstanceOf(StepFailed);
    expect(err).toMatchObject({ host: 'director', command: 'ipvsadm -A -t 192.168.170.100:80 -s rr', code: 2, stderr: 'Memory allocation problem\n' });
    expect(err.message).toContain('director: step failed with exit code 2');
    expect(calls.some(([h, c]) => h === 'director' && c.startsWith('ipvsadm -a'))).toBe(false);
    // the other hosts still finished, so nothing is mid-flight when the caller tears down
    expect(calls.some(([h, c]) => h === 'rs2' && c.includes('-k start'))).toBe(true);
  });

  it('edits in place what exists with other settings: a new scheduler is ipvsadm -E, a new weight ipvsadm -e', async () => {
    const wrr = planLab(validateLab({ service: { scheduler: 'wrr' }, realservers: [{ name: 'rs1', ip: '192.168.170.102', weight: 3 }, { name: 'rs2', ip: '192.168.170.103' }] }), {
      httpd: { kind: 'instance', root: '/run/lvs-lab/lvs' },
    });
    const director = wrr.hosts.filter((h) => h.host.role === 'director');
    // The director's table holds the rr service with both realservers at weight 1 (real `ipvsadm -Ln` output):
    // every "exists" check passes, every "as planned" check fails for what changed.
    const table = [
      'TCP  192.168.170.100:80 rr',
      '  -> 192.168.170.102:80           Route   1      0          0         ',
      '  -> 192.168.170.103:80           Route   1      0          0         ',
    ];
    const { transport, calls } = fakeTransport((_h, cmd) => {
      const step = director[0].steps.find((s) => s.unless === cmd || s.edit?.when === cmd);
      if (!step) return undefined;
      const grep = /grep -Eq -- '(.*)'$/.exec(cmd)?.[1];
      return { stdout: '', stderr: '', code: grep === undefined || table.some((l) => new RegExp(grep).test(l)) ? 0 : 1 };
    });
    const report = await applyPlan({ ...wrr, hosts: director }, transport);
    const ran = report.outcomes.filter((o) => o.result === 'ran').map((o) => o.command);
    expect(ran).toEqual(['ipvsadm -E -t 192.168.170.100:80 -s wrr', 'ipvsadm -e -t 192.168.170.100:80 -r 192.168.170.102 -g -w 3']);
    expect(calls.some(([, c]) => c.startsWith('ipvsadm -A') || c.startsWith('ipvsadm -a'))).toBe(false);
  });

  it('runs hosts side by side', async () => {
    let running = 0;
    let most = 0;
    const transport: Transport = {
      kind: 'netns',
      run: async () => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return { stdout: '', stderr: '', code: 0 };
      },
    };
    await applyPlan(plan, transport);
    expect(most).toBeGreaterThan(1);
  });
});

function isCheck(command: string): boolean {
  return plan.hosts.some((h) => h.steps.some((s) => s.unless === command || s.edit?.when === command));
}

