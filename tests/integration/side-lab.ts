// A small lab built beside the test lab, on the same machine (namespaces isolate them), for the tests of one
// describe block: built before them, removed after them, and checked to leave nothing behind.
import { afterAll, beforeAll, expect } from 'vitest';
import type { Lab } from '../../model/topology.js';
import { applyPlan } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import type { Shell } from '../../provision/shell.js';
import { NetnsLab } from '../../testbed/netns.js';
import type { LabAccess } from '../../provision/transport.js';

/** `machine` is read when the block starts (the test lab's session is opened in a beforeAll). */
export function sideLab(machine: () => Shell, lab: Lab): () => LabAccess {
  let side: NetnsLab;
  beforeAll(async () => {
    side = new NetnsLab(machine(), lab);
    await side.teardown(); // left by a killed run
    await side.build();
    await applyPlan(planLab(lab, { httpd: side.httpd }), side.transport);
  });
  afterAll(async () => {
    await side?.teardown();
    expect(await side.leftovers()).toEqual([]);
  });
  return () => ({ lab, transport: side.transport, httpd: side.httpd });
}
