// Pulumi's Node.js language host runs this file with plain `node`; tsx's loader lets the program be TypeScript
// (ESM, with the rest of lvs-lab) without a compile step.
import { register } from 'tsx/esm/api';

register();
export const { vip, engineKind, hosts, verify } = await import('./index.ts');
