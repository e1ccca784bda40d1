// Prints this machine's footprint (lab/footprint.ts), one line each: .ci/run takes one before anything of the run
// exists and one after its last `down`, so a leftover shows against a state the run did not create.
import { footprint } from '../lab/footprint.js';

process.stdout.write(`${(await footprint()).join('\n')}\n`);
