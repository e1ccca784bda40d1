// A verify run as JUnit XML, for CI systems and graders: one testcase per check (built-in and declared), a failure
// with its text, the evidence in system-out.
import { escapeXml } from '../base/xml.js';
import type { Check as BuiltinCheck } from '../verify/report.js';
import type { CheckResult } from './run.js';
import { formatCheckResult } from './run.js';

interface Case {
  name: string;
  ok: boolean;
  seconds: number;
  message: string;
  out: string;
}

function suite(name: string, cases: Case[]): string {
  const failures = cases.filter((c) => !c.ok).length;
  const time = cases.reduce((t, c) => t + c.seconds, 0).toFixed(3);
  const body = cases.map((c) => {
    const failure = c.ok ? '' : `\n      <failure message="${escapeXml(c.message)}">${escapeXml(c.out)}</failure>`;
    return `    <testcase classname="${escapeXml(name)}" name="${escapeXml(c.name)}" time="${c.seconds.toFixed(3)}">${failure}\n      <system-out>${escapeXml(c.out)}</system-out>\n    </testcase>`;
  });
  return `  <testsuite name="${escapeXml(name)}" tests="${cases.length}" failures="${failures}" time="${time}">\n${body.join('\n')}\n  </testsuite>`;
}

/** The run of `lab`'s checks as a JUnit XML document. */
export function junitXml(lab: string, builtin: BuiltinCheck[], declared: CheckResult[]): string {
  const suites = [
    ...(builtin.length > 0
      ? [
          suite(
            `${lab}.built-in`,
            builtin.map((c) => ({ name: c.name, ok: c.ok, seconds: 0, message: c.evidence, out: c.evidence })),
          ),
        ]
      : []),
    ...(declared.length > 0
      ? [
          suite(
            `${lab}.declared`,
            declared.map((r) => ({
              name: r.name,
              ok: r.ok,
              seconds: r.seconds,
              message: r.text || r.error || 'failed',
              out: formatCheckResult(r),
            })),
          ),
        ]
      : []),
  ];
  const all = [...builtin.map((c) => c.ok), ...declared.map((r) => r.ok)];
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="lvs-lab verify ${escapeXml(lab)}" tests="${all.length}" ` +
    `failures="${all.filter((ok) => !ok).length}">\n${suites.join('\n')}\n</testsuites>\n`
  );
}
