// What a check changes before it looks (`given`): a fault, made with the `fault` command's code, or realservers'
// weights, set by re-applying the director's plan with them. Each change returns its undo, run after the check
// whatever happened (a fault is cleared on its host; the director's plan is applied again as the lab has it).
import { applyFault } from '../drive/fault.js';
import { faultOfGiven, type CheckGiven } from '../model/checks.js';
import type { Lab } from '../model/topology.js';
import { applyPlanOn } from '../provision/apply.js';
import type { LabAccess } from '../provision/transport.js';

export type Undo = () => Promise<string>;

/** The lab's plan applied on its directors only: the IPVS table as `lab` has it. */
async function applyDirectors(access: LabAccess, lab: Lab): Promise<void> {
  await applyPlanOn(access, lab, (h) => h.role === 'director');
}

/** Makes one change; returns what it did, in words, and how to undo it. */
export async function applyGiven(access: LabAccess, given: CheckGiven): Promise<{ did: string; undo: Undo }> {
  if ('fault' in given) {
    const { host } = given.fault;
    const did = await applyFault(access, host, faultOfGiven(given.fault));
    return { did, undo: () => applyFault(access, host, { kind: 'clear' }) };
  }
  const weighted: Lab = {
    ...access.lab,
    realservers: access.lab.realservers.map((r) => ({ ...r, weight: given.weight[r.name] ?? r.weight })),
  };
  await applyDirectors(access, weighted);
  const did = `weights ${Object.entries(given.weight)
    .map(([n, w]) => `${n}=${w}`)
    .join(', ')}`;
  return {
    did,
    undo: async () => {
      await applyDirectors(access, access.lab);
      return `weights as the lab has them again (${access.lab.realservers.map((r) => `${r.name}=${r.weight}`).join(', ')})`;
    },
  };
}
