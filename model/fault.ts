// A fault, as a user names it (`delay 200ms jitter 20ms`, `link down`, `httpd stop`, `host stop`, `clear`): parsed and
// checked here, before anything changes; drive/fault.ts makes and undoes it on a running lab.
import { UserError } from './errors.js';

/** tc netem's impairments, each as netem writes it: "200ms", "10%", "1mbit". */
export interface Netem {
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  corrupt?: string;
}

export type Fault =
  { kind: 'netem'; netem: Netem } | { kind: 'link' | 'httpd' | 'host'; up: boolean } | { kind: 'clear' };

export const FAULT_USAGE = [
  'delay 200ms [jitter 20ms] | loss 10% | rate 1mbit | corrupt 1%   (tc netem on its lab interfaces; combinable)',
  'link down | link up                                           (its lab interfaces)',
  'httpd stop | httpd start                                      (a realserver)',
  'host stop | host start                                        (the whole host: its processes, or its container)',
  'clear                                                         (every fault of the host undone, its plan re-applied)',
];

const TIME = /^(\d+(?:\.\d+)?)(us|ms|s)$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;
const RATE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/;

function checkedTime(word: string, value: string | undefined): string {
  const m = value === undefined ? null : TIME.exec(value);
  if (!m) throw new UserError(`fault: ${word} ${JSON.stringify(value ?? '')}: must be a time like 200ms, 1.5s, 500us`);
  const ms = Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  if (ms > 60_000) throw new UserError(`fault: ${word} ${value}: at most 60s`);
  return value!;
}

function checkedPercent(word: string, value: string | undefined): string {
  const m = value === undefined ? null : PERCENT.exec(value);
  if (!m || Number(m[1]) > 100)
    throw new UserError(`fault: ${word} ${JSON.stringify(value ?? '')}: must be a percentage from 0% to 100%`);
  return value!;
}

function checkedRate(value: string | undefined): string {
  const m = value === undefined ? null : RATE.exec(value);
  if (!m || Number(m[1]) <= 0)
    throw new UserError(`fault: rate ${JSON.stringify(value ?? '')}: must be a rate like 1mbit, 512kbit`);
  return value!;
}

/** The words after the host, as one fault; a refusal names the word and why, before anything changes. */
export function parseFault(words: string[]): Fault {
  const [first, second] = words;
  if (first === 'clear' && words.length === 1) return { kind: 'clear' };
  if ((first === 'link' || first === 'httpd' || first === 'host') && words.length === 2) {
    const up = { link: ['up', 'down'], httpd: ['start', 'stop'], host: ['start', 'stop'] }[first];
    if (!up.includes(second))
      throw new UserError(`fault: ${first} ${JSON.stringify(second)}: must be ${up.join(' or ')}`);
    return { kind: first, up: second === up[0] };
  }
  const netem: Netem = {};
  for (let i = 0; i < words.length; i += 2) {
    const [word, value] = [words[i], words[i + 1]];
    if (word === 'delay') netem.delay = checkedTime(word, value);
    else if (word === 'jitter') netem.jitter = checkedTime(word, value);
    else if (word === 'loss') netem.loss = checkedPercent(word, value);
    else if (word === 'corrupt') netem.corrupt = checkedPercent(word, value);
    else if (word === 'rate') netem.rate = checkedRate(value);
    else
      throw new UserError(
        `fault: ${JSON.stringify(word ?? '')} is not a fault; one of:\n  ${FAULT_USAGE.join('\n  ')}`,
      );
  }
  if (netem.jitter && !netem.delay) throw new UserError('fault: jitter needs a delay (delay 200ms jitter 20ms)');
  return { kind: 'netem', netem };
}

/** netem's arguments, in the order tc takes them. */
export const netemArgs = (n: Netem): string =>
  [
    n.delay && `delay ${n.delay}${n.jitter ? ` ${n.jitter}` : ''}`,
    n.loss && `loss ${n.loss}`,
    n.corrupt && `corrupt ${n.corrupt}`,
    n.rate && `rate ${n.rate}`,
  ]
    .filter(Boolean)
    .join(' ');
