// Whether what a check saw meets what it expects: one verdict per expectation, each with what was seen and what was
// expected, in words for the learner. Pure: the evidence comes from checks/observe.ts.
import type { CheckExpect } from '../model/checks.js';
import type { LoadResult } from '../drive/load.js';

/** What a check's action saw on the lab. */
export type Observation =
  | { kind: 'requests'; result: LoadResult }
  | { kind: 'exec'; stdout: string; stderr: string; code: number }
  | { kind: 'ipvs'; scheduler: string; realservers: Array<{ name: string; weight: number }> }
  | { kind: 'arp'; answeredBy: string[] }
  | { kind: 'vip'; holders: string[] };

export interface Verdict {
  ok: boolean;
  /** What it is about: "split", "errors", "holder". */
  what: string;
  seen: string;
  expected: string;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const errorCount = (r: LoadResult) =>
  r.errors.refused +
  r.errors.reset +
  r.errors.timeout +
  r.errors.other +
  Object.values(r.errors.status).reduce((a, b) => a + b, 0);

function requestVerdicts(e: CheckExpect, r: LoadResult): Verdict[] {
  const verdicts: Verdict[] = [];
  const answered = Object.values(r.share).reduce((a, b) => a + b, 0);
  if (e.split) {
    const names = Object.keys({ ...e.split, ...r.share });
    const seenShare = (n: string) => (answered === 0 ? 0 : (r.share[n] ?? 0) / answered);
    verdicts.push({
      ok: answered > 0 && names.every((n) => Math.abs(seenShare(n) - (e.split![n] ?? 0)) <= e.tolerance),
      what: 'split',
      seen: names.map((n) => `${n} ${pct(seenShare(n))} (${r.share[n] ?? 0})`).join(', ') || 'no answer',
      expected: `${Object.entries(e.split)
        .map(([n, f]) => `${n} ${pct(f)}`)
        .join(', ')}, each within ${pct(e.tolerance)}`,
    });
  }
  if (e.sameRealserver !== undefined) {
    const byClient = r.byClient ?? { client: Object.keys(r.share).filter((n) => (r.share[n] ?? 0) > 0) };
    const pinned = Object.values(byClient).every((reached) => reached.length === 1);
    verdicts.push({
      ok: pinned === e.sameRealserver,
      what: 'sameRealserver',
      seen: Object.entries(byClient)
        .map(([c, reached]) => `${c} -> ${reached.join('+') || 'none'}`)
        .join(', '),
      expected: e.sameRealserver ? 'each client reaches one realserver' : 'a client reaches several realservers',
    });
  }
  if (e.errors) {
    const n = errorCount(r);
    verdicts.push({
      ok: n <= e.errors.max,
      what: 'errors',
      seen: `${n} of ${r.requests}`,
      expected: `at most ${e.errors.max}`,
    });
  }
  if (e.status !== undefined) {
    const other = Object.entries(r.errors.status).filter(([s]) => Number(s) !== e.status);
    verdicts.push({
      ok: answered > 0 && other.length === 0,
      what: 'status',
      seen:
        other.length === 0
          ? `${answered} answered ${e.status}`
          : other.map(([s, n]) => `${n} answered ${s}`).join(', '),
      expected: `every answer ${e.status}`,
    });
  }
  return verdicts;
}

function execVerdicts(e: CheckExpect, o: { stdout: string; code: number }): Verdict[] {
  const verdicts: Verdict[] = [];
  const out = o.stdout.trim();
  if (e.stdout)
    verdicts.push({
      ok: new RegExp(e.stdout.matches, 'm').test(o.stdout),
      what: 'stdout',
      seen: JSON.stringify(out.length > 200 ? `${out.slice(0, 200)}...` : out),
      expected: `matches /${e.stdout.matches}/`,
    });
  if (e.exitCode !== undefined)
    verdicts.push({ ok: o.code === e.exitCode, what: 'exitCode', seen: String(o.code), expected: String(e.exitCode) });
  return verdicts;
}

/** Every expectation of `e` against the observation (the schema has made sure they fit its kind). */
export function judge(e: CheckExpect, o: Observation): Verdict[] {
  switch (o.kind) {
    case 'requests':
      return requestVerdicts(e, o.result);
    case 'exec':
      return execVerdicts(e, o);
    case 'ipvs': {
      const absent = [e.absent ?? []].flat();
      const listed = o.realservers.map((r) => r.name);
      const present = absent.filter((n) => listed.includes(n));
      return [
        {
          ok: present.length === 0,
          what: 'absent',
          seen: `in the table: ${listed.join(', ') || 'none'}`,
          expected: `not in the table: ${absent.join(', ')}`,
        },
      ];
    }
    case 'arp': {
      const ok = o.answeredBy.length > 0 && o.answeredBy.every((h) => h === e.answeredBy);
      return [
        { ok, what: 'answeredBy', seen: o.answeredBy.join(', ') || 'no answer', expected: `${e.answeredBy} alone` },
      ];
    }
    case 'vip':
      return [
        {
          ok: o.holders.length === 1 && o.holders[0] === e.holder,
          what: 'holder',
          seen: o.holders.join(', ') || 'nobody',
          expected: `${e.holder} alone`,
        },
      ];
  }
}
