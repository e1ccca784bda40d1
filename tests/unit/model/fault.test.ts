// `lab fault`'s words: every fault parsed to what tc and ip are given, every bad one refused naming the word and why,
// before anything reaches a host.
import { describe, expect, it } from 'vitest';
import { netemArgs, parseFault } from '../../../model/fault.js';
import { UserError } from '../../../model/errors.js';

describe('fault words', () => {
  it('read netem impairments, combinable, in the order tc takes them', () => {
    const f = parseFault(['loss', '10%', 'delay', '200ms', 'jitter', '20ms', 'rate', '1mbit', 'corrupt', '1%']);
    expect(f).toEqual({
      kind: 'netem',
      netem: { loss: '10%', delay: '200ms', jitter: '20ms', rate: '1mbit', corrupt: '1%' },
    });
    expect(f.kind === 'netem' && netemArgs(f.netem)).toBe('delay 200ms 20ms loss 10% corrupt 1% rate 1mbit');
  });

  it('read link, httpd and host faults and clear', () => {
    expect(parseFault(['link', 'down'])).toEqual({ kind: 'link', up: false });
    expect(parseFault(['httpd', 'start'])).toEqual({ kind: 'httpd', up: true });
    expect(parseFault(['host', 'stop'])).toEqual({ kind: 'host', up: false });
    expect(parseFault(['clear'])).toEqual({ kind: 'clear' });
  });

  it.each([
    [['delay', '-5ms'], 'fault: delay "-5ms": must be a time'],
    [['delay', '5 ms'], 'fault: delay "5 ms": must be a time'],
    [['delay', '2min'], 'must be a time'],
    [['delay', '61s'], 'fault: delay 61s: at most 60s'],
    [['loss', '140%'], 'fault: loss "140%": must be a percentage from 0% to 100%'],
    [['loss', '10'], 'must be a percentage'],
    [['rate', 'fast'], 'fault: rate "fast": must be a rate'],
    [['jitter', '20ms'], 'jitter needs a delay'],
    [['explode'], 'fault: "explode" is not a fault'],
    [['link', 'sideways'], 'fault: link "sideways": must be up or down'],
    [['delay', '1ms;reboot'], 'must be a time'],
    [['delay'], 'fault: delay "": must be a time'],
  ])('refuses %j', (words, message) => {
    expect(() => parseFault(words)).toThrow(UserError);
    expect(() => parseFault(words)).toThrow(message);
  });
});
