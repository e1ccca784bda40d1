// A stack over several Docker engines: `lvs-lab:engines` and `lvs-lab:placement`, validated with the lab, every
// problem named by its field before anything exists.
import { describe, expect, it } from 'vitest';
import { LabModelError } from '../../../model/topology.js';
import { settingsFromConfig } from '../../../model/stack.js';
import { rejection } from '../../rejection.js';

const settings = (raw: Record<string, unknown>) => settingsFromConfig(raw, 'span');
const problems = async (raw: Record<string, unknown>) =>
  (
    await rejection(
      Promise.resolve().then(() => settings(raw)),
      LabModelError,
    )
  ).message;

describe('stack engines and placement', () => {
  it('places named hosts on their engine and the rest on the first', () => {
    const s = settings({ engines: { a: 'vm', b: 'vm:b' }, placement: { rs1: 'b', rs2: 'b' } });
    expect(s.engines).toEqual([
      { name: 'a', address: 'vm' },
      { name: 'b', address: 'vm:b' },
    ]);
    expect(s.placement).toEqual({ director: 'a', rs1: 'b', rs2: 'b', client: 'a' });
  });

  it('takes the JSON text Pulumi hands the program, and an ssh:// engine with its underlay', () => {
    const s = settings({
      engines: JSON.stringify({ a: 'ssh://root@10.0.0.1', b: { host: 'ssh://lab@box2:2222', underlay: '10.0.0.2' } }),
      placement: JSON.stringify({ rs1: 'b' }),
    });
    expect(s.engines).toEqual([
      { name: 'a', address: 'ssh://root@10.0.0.1', underlay: '10.0.0.1' },
      { name: 'b', address: 'ssh://lab@box2:2222', underlay: '10.0.0.2' },
    ]);
  });

  it('a stack without engines is one engine, as before', () => {
    const s = settings({});
    expect(s.engines).toBeUndefined();
    expect(s.placement).toBeUndefined();
  });

  it.each([
    [{ engines: { a: 'vm' }, placement: { rs9: 'a' } }, 'placement.rs9: no host of that name in lab lvs'],
    [{ engines: { a: 'vm' }, placement: { rs1: 'z' } }, 'placement.rs1: "z" is not one of the engines (a)'],
    [{ engines: { a: 'vm', b: 'vm:b' } }, 'engines.b: no host is placed on it'],
    [{ engines: { a: 'vm', b: 'vm' }, placement: { rs1: 'b' } }, 'engines.b: vm is engine a already'],
    [{ engines: { a: 'docker.example:2375' } }, 'engines.a: "docker.example:2375" is not vm, vm:NAME'],
    [{ engines: { a: 'ssh://root@box; rm -rf /' } }, 'engines.a: "ssh://root@box; rm -rf /" is not vm'],
    [{ engines: { a: 'ssh://root@box' } }, 'engines.a.underlay: required when the host is a name'],
    [{ engines: { a: 'local' } }, 'engines.a.underlay: required for the local engine'],
    [{ engines: { a: { host: 'vm', underlay: '10.0.0.300' } } }, 'engines.a.underlay: "10.0.0.300" is not an IPv4'],
    [{ engines: { a: 'vm:Bad' } }, 'engines.a: "vm:Bad" does not name an engine VM'],
    [{ engines: { 'Engine A': 'vm' } }, 'engines.Engine A: "Engine A" is not an engine name'],
    [{ engines: {} }, 'engines: must name at least one engine'],
    [{ engines: ['vm'] }, 'engines: must be a mapping'],
    [{ placement: { rs1: 'a' } }, 'needs lvs-lab:engines to place hosts on'],
    [{ engine: 'vm', engines: { a: 'vm' } }, 'give lvs-lab:engine (one engine) or lvs-lab:engines (several), not both'],
  ])('refuses %j: %s', async (raw, message) => {
    expect(await problems(raw)).toContain(message);
  });

  it('names every problem at once', async () => {
    const message = await problems({ engines: { a: 'vm', b: 'nowhere', c: 'vm:c' }, placement: { rs9: 'a' } });
    expect(message).toContain('engines.b:');
    expect(message).toContain('placement.rs9:');
    expect(message).toContain('engines.c: no host is placed on it');
  });
});
