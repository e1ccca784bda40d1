// The one interface every testbed implements, and the one the lab lifecycle (lab/lifecycle.ts) takes: as Mininet takes a host
// class and containerlab a runtime. A testbed says how a lab's hosts come to exist and how to reach them; the
// lifecycle does the rest the same way for all (state, preflight, network, plan, cleanup).
import type { Lab } from '../model/topology.js';
import type { HttpdLayout } from '../provision/httpd.js';
import type { Shell } from '../provision/shell.js';
import type { HostPower, Transport } from '../provision/transport.js';

import type { Log } from '../base/log.js';

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
  /** Whole hosts stopped and started (`fault <host> host stop`), where the testbed can. */
  readonly power?: HostPower;
  close(): Promise<void>;
}

export interface CreateContext<S> {
  log: Log;
  /** The lab's state directory: exists, private; the testbed keeps its files there. */
  dir: string;
  /**
   * Records the testbed's own state (kept in the lab's state, opaque to the lifecycle) as soon as there is something
   * to clean up, so a failure or a kill from then on leaves something `down` can remove.
   */
  save: (own: S) => Promise<void>;
}

/**
 * A testbed with its own state S: what it records of a lab it created (its VM, its Vagrant project), which the
 * lifecycle stores without reading and hands back. `own` is undefined until the testbed saved one.
 */
export interface Testbed<S = unknown> {
  readonly kind: string;
  /**
   * Why this testbed is the one for `--testbed auto` on this host, or undefined when it is not; the registry's order
   * is the order of preference. A testbed without it is only used when chosen.
   */
  suits?(): Promise<string | undefined>;
  /** Its own state as read back from a file: checked and typed, or an Error naming the field and why. */
  readOwn(raw: unknown, lab: Lab): S;
  /** Where realservers' httpd keep their files on this testbed: what `plan` prints before anything exists. */
  httpdLayout(lab: Lab): HttpdLayout;
  /** This host can create the lab (tools, daemons): checked before anything exists. Throws PreflightError. */
  checkHost(lab: Lab): Promise<void>;
  /** Creates the lab's machines and returns a session on them. */
  create(lab: Lab, ctx: CreateContext<S>): Promise<TestbedSession>;
  /** A new session on a lab that is up (built by this or another process). */
  open(lab: Lab, own: S | undefined): Promise<TestbedSession>;
  /** Removes everything of the lab, tolerating parts already gone. */
  destroy(lab: Lab, own: S | undefined, log: Log): Promise<void>;
  /** What of the lab still exists, by name (empty: nothing). */
  leftovers(lab: Lab, own: S | undefined): Promise<string[]>;
  /** Removes what a lab of this name left without state (a run killed before it saved any); returns what it was. */
  sweep?(lab: Lab, log: Log): Promise<string[]>;
  /** One line for `status`: where the lab runs and whether that is alive. */
  describe(lab: Lab, own: S | undefined): string;
  /** Commands of its own for `npm run lab` (`image`, `vagrantfile`), by name. */
  readonly commands?: Readonly<Record<string, TestbedCommand<S>>>;
}

/** A testbed's own command: the CLI lists it with the others and hands it the lab the options describe. */
export interface TestbedCommand<S> {
  /** What it does, for the usage: one line. */
  usage: string;
  /** Runs with the lab and, when that lab is up on this testbed, its state; returns what to print (or nothing). */
  run(lab: Lab, own: S | undefined, log: Log): Promise<string | undefined>;
}

/** The testbeds a lifecycle is handed, by kind, in order of preference for `--testbed auto`. */
export type Testbeds = Readonly<Record<string, Testbed>>;
