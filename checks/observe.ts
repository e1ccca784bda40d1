// A check's one action on the running lab, with the code the commands use: `load`'s requests, a host's command, the
// director's IPVS table, ARP from a host, the VIP's holder.
import { runLoad, checkLoadOptions } from '../drive/load.js';
import { actionOf, type Check } from '../model/checks.js';
import type { LabAccess } from '../provision/transport.js';
import { arpResponders, hostsByMac, ipvsTable, vipHolders } from '../verify/probes.js';
import type { Observation } from './judge.js';

export async function observeCheck(access: LabAccess, check: Check): Promise<Observation> {
  const { lab } = access;
  switch (actionOf(check)) {
    case 'requests': {
      const r = check.requests!;
      const options = checkLoadOptions({
        requests: r.count,
        concurrency: r.concurrency,
        clients: r.clients,
        path: r.path,
      });
      return { kind: 'requests', result: await runLoad(access, options) };
    }
    case 'exec': {
      const res = await access.transport.run(check.exec!.host, check.exec!.command);
      return { kind: 'exec', stdout: res.stdout, stderr: res.stderr, code: res.code };
    }
    case 'ipvs': {
      const table = await ipvsTable(access, check.ipvs!.director ?? lab.director.name);
      const nameOf = (ip: string) => lab.realservers.find((r) => r.ip === ip)?.name ?? ip;
      return {
        kind: 'ipvs',
        scheduler: table.scheduler,
        realservers: table.dests.map((d) => ({ name: nameOf(d.rip), weight: d.weight })),
      };
    }
    case 'arp': {
      const [macs, hosts] = await Promise.all([
        arpResponders(access, 1, { address: check.arp!.address, from: check.arp!.from }),
        hostsByMac(access),
      ]);
      const hostOf = (mac: string) => hosts[mac] ?? mac;
      return { kind: 'arp', answeredBy: [...new Set(macs.map(hostOf))] };
    }
    case 'vip':
      return { kind: 'vip', holders: await vipHolders(access) };
  }
}
