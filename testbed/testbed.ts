// The one interface every testbed implements, and the one the lab lifecycle (lab.ts) takes: as Mininet takes a host
// class and containerlab a runtime. A testbed says how a lab's hosts come to exist and how to reach them; the
// lifecycle does the rest the same way for all (state, preflight, network, plan, cleanup).
import type { Lab } from '../model/topology.js';
import type { HttpdLayout } from '../provision/httpd.js';
import type { Shell } from '../provision/shell.js';
import type { Transport } from '../provision/transport.js';
import type { LabState, TestbedKind } from '../lab/state.js';

export type Log = (message: string) => void;
/** Seconds since `t0` (a Date.now()), for progress lines: "2.4". */
export const seconds = (t0: number): string => ((Date.now() - t0) / 1000).toFixed(1);

/** A live connection to a lab's hosts, on one testbed. */
export interface TestbedSession {
  /** Where the hosts run, for messages: "localhost", "root@127.0.0.1:40022", "4 Vagrant machines". */
  readonly where: string;
  readonly transport: Transport;
  /** Where each realserver's httpd keeps its files. */
  readonly httpd: HttpdLayout;
  /** The one machine every host shares, where there is one (netns, vm): side labs in tests are built on it. */
  readonly machine?: Shell;
  /** Throws PreflightError unless the hosts can run this lab; `rebuilding` (a lab already up) skips name checks. */
  preflight(options: { rebuilding: boolean }): Promise<void>;
  /** Builds the lab's L2 network, or checks it is in place; returns one line saying what it is. */
  buildNetwork(): Promise<string>;
  /**
   * Waits for what `create` started and left running while the lab was provisioned (Vagrant's own readiness checks,
   * which poll far slower than the kit); a failure there fails the `up`, which then removes the lab.
   */
  settle?(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateContext {
  log: Log;
  /** The lab's state directory: exists, private; the testbed keeps its files there. */
  dir: string;
  /**
   * Records what the testbed created (merged into the lab's state) as soon as there is something to clean up, so a
   * failure or a kill from then on leaves something `down` can remove.
   */
  save: (patch: Partial<LabState>) => Promise<void>;
}

export interface Testbed {
  readonly kind: TestbedKind;
  /** Where realservers' httpd keep their files on this testbed: what `plan` prints before anything exists. */
  httpdLayout(lab: Lab): HttpdLayout;
  /** This host can create the lab (tools, daemons): checked before anything exists. Throws PreflightError. */
  checkHost(lab: Lab): Promise<void>;
  /** Creates the lab's machines and returns a session on them. */
  create(lab: Lab, ctx: CreateContext): Promise<TestbedSession>;
  /** A new session on a lab that is up, from its state (built by this or another process). */
  open(state: LabState): Promise<TestbedSession>;
  /** Removes everything of the lab from its state alone, tolerating parts already gone. */
  destroy: (state: LabState, log: Log) => Promise<void>;
  /** What of the lab still exists, by name (empty: nothing). */
  leftovers: (state: LabState) => Promise<string[]>;
  /** Removes what a lab of this name left without state (a run killed before it saved any); returns what it was. */
  sweep?(lab: Lab, log: Log): Promise<string[]>;
  /** One line for `status`: where the lab runs and whether that is alive. */
  describe(state: LabState): string;
}
