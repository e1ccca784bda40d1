// `npm run lab -- observe`: what the seed says to look at after a request, in one view. Requests from the client,
// then per host the commands that show where each connection lives, each with one line on what to notice.
import { directorsOf, FORWARD_COLUMN, type Lab } from '../model/topology.js';
import { fetchSequence } from '../verify/probes.js';
import type { LabAccess } from '../provision/transport.js';

export interface Section {
  host: string;
  command: string;
  output: string;
  /** What to notice, for this forwarding method. */
  note: string;
}

const NOTES = {
  dr: {
    connections:
      'the director forwards each connection (state, client:port -> VIP:80 -> realserver); it holds no socket for them',
    stats: 'InPkts count the requests; OutPkts stay 0: replies never pass the director',
    directorSockets: 'no socket on VIP:80: the director forwards at IPVS level, it terminates nothing',
    realserver:
      "the realserver itself talks VIP:80 <-> the client's own address: it holds the VIP on lo:0 and replies straight to the client",
    arp: "the client's ARP entry for the VIP is the director's MAC: only the director answers for it",
    routes: 'the client and the VIP share one L2 segment: no gateway is involved',
  },
  nat: {
    connections: 'the director rewrites each connection: client -> VIP:80 becomes client -> realserver:80, and back',
    stats: 'InPkts and OutPkts both grow: requests and replies both pass the director',
    directorSockets: 'no socket on VIP:80: the director translates at IPVS level, it terminates nothing',
    realserver: "the realserver talks its own address:80 <-> the client's address; its default route is the director",
    arp: "the client's ARP entry for the VIP is the director's outside MAC: the VIP lives on its eth1",
    routes: 'the client is on the outside network, behind the director',
  },
  tun: {
    connections: 'the director forwards each connection inside an IP-in-IP tunnel to the realserver',
    stats: 'InPkts count the requests; OutPkts stay 0: replies never pass the director',
    directorSockets: 'no socket on VIP:80: the director encapsulates at IPVS level, it terminates nothing',
    realserver:
      "the realserver talks VIP:80 <-> the client's own address: it holds the VIP on tunl0 and replies directly",
    arp: "the client's ARP entry for the VIP is the director's MAC",
    routes: 'the client and the VIP share one L2 segment',
  },
} as const;

/** Sends `requests` requests to the VIP from the client, then reads what each host shows of them. */
export async function observe(access: LabAccess, requests = 6): Promise<{ bodies: string[]; sections: Section[] }> {
  const { lab } = access;
  const note = NOTES[lab.forwarding];
  // A curl per request, as the seed runs it: the realserver then holds each connection's TIME_WAIT, which netstat shows.
  const bodies = await fetchSequence(access, requests, { perRequest: true });
  const run = async (host: string, command: string, why: string): Promise<Section> => {
    const res = await access.transport.run(host, command);
    return { host, command, output: (res.stdout + res.stderr).trimEnd(), note: why };
  };
  const port = lab.service.port;
  // A pair: the VIP shows who is MASTER; the BACKUP's connection table holds what the sync daemon sent it.
  const pair = lab.ha
    ? directorsOf(lab).flatMap((d) => [
        run(
          d.name,
          `ip -4 addr show dev eth0 | grep -F ' ${lab.vip}/' || echo '(no VIP here: BACKUP)'`,
          'the VIP is on the MASTER only; VRRP moves it when the MASTER stops',
        ),
        run(
          d.name,
          'ipvsadm -L --daemon',
          "the sync daemons: the MASTER's sends its connections, the BACKUP's receives them",
        ),
      ])
    : [];
  const sections = await Promise.all([
    ...pair,
    ...directorsOf(lab).map((d) =>
      run(
        d.name,
        'ipvsadm -lnc',
        d.name === lab.director.name ? note.connections : `${note.connections} (on the BACKUP: the synced copies)`,
      ),
    ),
    run(lab.director.name, 'ipvsadm -ln --stats', note.stats),
    run(
      lab.director.name,
      `netstat -natp | grep -E ':${port} ' || echo '(no TCP socket on port ${port})'`,
      note.directorSockets,
    ),
    ...lab.realservers.map((r) => run(r.name, `netstat -natp | grep -E ':${port} '`, note.realserver)),
    run(lab.client.name, 'arp -an', note.arp),
    run(lab.client.name, 'route -n', note.routes),
  ]);
  return { bodies, sections };
}

export function formatObservation(lab: Lab, o: { bodies: string[]; sections: Section[] }): string {
  const out = [
    `${o.bodies.length} requests to ${lab.vip}:${lab.service.port} from ${lab.client.name} (${lab.client.ip}): ${o.bodies.join(', ')}`,
  ];
  for (const s of o.sections)
    out.push('', `== ${s.host}# ${s.command}`, s.output.replace(/^/gm, '   '), `-> ${s.note}`);
  out.push(
    '',
    `(${lab.forwarding.toUpperCase()}: the IPVS table names the method in its Forward column, "${FORWARD_COLUMN[lab.forwarding]}")`,
  );
  return out.join('\n');
}
