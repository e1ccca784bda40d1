// Pulumi's Node.js language host runs this file with plain `node`; tsx's loader lets the program be TypeScript
// (ESM, with the rest of lvs-lab) without a compile step.
import { register } from 'tsx/esm/api';

// Source maps on before any TypeScript loads: stack-frames.ts maps Pulumi's resource positions through them.
globalThis.process.setSourceMapsEnabled(true);
register();
const { installStackFrames } = await import('./stack-frames.ts');
installStackFrames();
export const { vip, engineKind, hosts, verify } = await import('./index.ts');
