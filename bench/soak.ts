// npm run soak [-- --cycles N] [--testbed auto|netns|vm|vagrant] [--out bench/soak.json]
// up -> verify -> down, N times, on one lab, with the machine's footprint (lab/footprint.ts) compared after each
// cycle against the one before the first: anything left behind is a leak, named with its cycle. Ctrl-C removes the
// lab before exiting. Zero leaks is the bar.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { trapInterrupts } from '../lab/interrupt.js';
import { validateLab } from '../model/topology.js';
import { footprint, footprintDiff } from '../lab/footprint.js';
import { lifecycle } from '../lab/lifecycle.js';
import { TESTBEDS } from '../testbed/all.js';
import { verifyLab } from '../verify/report.js';
import { spread } from './results.js';
import { seconds } from '../base/log.js';

const labs = lifecycle(TESTBEDS);

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '10' },
    testbed: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'bench/soak.json' },
  },
});
const CYCLES = Number(values.cycles);
const lab = validateLab({ name: 'soak' }, 'soak');
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s] ${m}`);

async function main(): Promise<number> {
  const signals = trapInterrupts(log, '`npm run lab -- down --name soak` removes what is left');
  const before = await footprint();
  const cycles: Array<{ cycle: number; seconds: number; checks: string; left: string[]; gone: string[] }> = [];
  try {
    for (let i = 1; i <= CYCLES && !signals.interrupted; i++) {
      const start = Date.now();
      const { session } = await labs.up(lab, { testbed: values.testbed });
      let checks: string;
      try {
        const results = await verifyLab(session);
        checks = `${results.filter((c) => c.ok).length}/${results.length}`;
      } finally {
        await session.close();
        await labs.down(lab.name);
      }
      const diff = footprintDiff(before, await footprint());
      cycles.push({ cycle: i, seconds: (Date.now() - start) / 1000, checks, ...diff });
      log(
        `cycle ${i}/${CYCLES}: ${checks} checks, ${seconds(start)} s, ${diff.left.length ? `LEFT ${diff.left.join(', ')}` : 'nothing left'}`,
      );
    }
  } finally {
    if (signals.interrupted) {
      await labs.down(lab.name);
      log('interrupted: removed the soak lab');
    }
    signals.dispose();
  }
  const leaks = cycles.filter((c) => c.left.length > 0);
  const failed = cycles.filter((c) => !/^(\d+)\/\1$/.test(c.checks));
  const times = spread(cycles.map((c) => c.seconds));
  await writeFile(
    values.out,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        testbed: values.testbed,
        cycles: cycles.length,
        leaks: leaks.length,
        failedVerify: failed.length,
        seconds: times,
        runs: cycles,
      },
      null,
      2,
    ),
  );
  log(
    `${cycles.length} cycles: ${leaks.length} with leaks, ${failed.length} with a failed check; a cycle took ${times.median.toFixed(1)} s (median, ${times.min.toFixed(1)}-${times.max.toFixed(1)}); wrote ${values.out}`,
  );
  return signals.interrupted ? 130 : leaks.length || failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(err);
    await labs.down(lab.name).catch(() => {});
    process.exit(1);
  },
);
