// What the live view shows each second, read from the lab's kernels as `observe` reads them: who holds the VIP, the
// IPVS table with weights and connections, the new connections per realserver since the view opened, the faults in
// force; and from the view's board, the running `load`'s output and when the last `explain` ladder was drawn.
import { faultsInForce, faultText } from '../drive/fault.js';
import { directorsOf, type Lab } from '../model/topology.js';
import type { LabAccess } from '../provision/transport.js';
import { ipvsStats, ipvsTable, vipHolders } from '../verify/probes.js';
import { read, writtenAt } from './board.js';

export interface RealserverRow {
  name: string;
  ip: string;
  /** In the director's table (a health checker takes a dead one out). */
  inTable: boolean;
  weight?: number;
  active: number;
  inactive: number;
  /** New connections since the view opened. */
  conns: number;
}

export interface Snapshot {
  at: string;
  lab: string;
  forwarding: Lab['forwarding'];
  vip: string;
  holders: string[];
  scheduler?: string;
  realservers: RealserverRow[];
  faults: string[];
  load?: string;
  /** When the last explain ladder was written (the page reloads the picture when it changes). */
  ladderAt?: number;
}

/** Reads snapshots of one lab; the connection counts start from the first read. */
export function watcher(access: LabAccess, board: string) {
  const { lab } = access;
  const baseline = new Map<string, number>();
  return async (): Promise<Snapshot> => {
    const holders = await vipHolders(access);
    const director = holders[0] ?? lab.director.name;
    const [table, stats, faults, load, ladder] = await Promise.all([
      ipvsTable(access, director),
      Promise.all(directorsOf(lab).map(async (d) => [d.name, await ipvsStats(access, d.name)] as const)),
      faultsInForce(access),
      read(board, 'load'),
      writtenAt(board, 'ladder'),
    ]);
    const realservers = lab.realservers.map((r): RealserverRow => {
      const dest = table.dests.find((d) => d.rip === r.ip);
      // Each director counts what it scheduled (a pair's backup, after a failover); a realserver back in a table
      // starts its counters there anew, and so does its baseline.
      let conns = 0;
      for (const [d, st] of stats) {
        const key = `${d} ${r.ip}`;
        const total = st.dests.get(r.ip)?.conns ?? 0;
        if (!baseline.has(key) || total < baseline.get(key)!) baseline.set(key, total);
        conns += total - baseline.get(key)!;
      }
      return {
        name: r.name,
        ip: r.ip,
        inTable: dest !== undefined,
        weight: dest?.weight,
        active: dest?.activeConn ?? 0,
        inactive: dest?.inActConn ?? 0,
        conns,
      };
    });
    return {
      at: new Date().toISOString(),
      lab: lab.name,
      forwarding: lab.forwarding,
      vip: `${lab.vip}:${lab.service.port}`,
      holders,
      scheduler: table.scheduler,
      realservers,
      faults: faults.map(faultText),
      load,
      ladderAt: ladder,
    };
  };
}
