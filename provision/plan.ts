// model -> plan: the exact, ordered shell commands per host. Pure: no I/O, so the text can be pinned by tests
// and printed before anything runs.
import { FORWARDING, hostsOf, type Host, type Lab, type LabHost } from '../model/topology.js';
import { httpdFiles, instanceConfig, startCommand, type HttpdLayout } from './httpd.js';
import { keepalivedSteps } from './keepalived.js';
import { daemonRunning, shq } from './shell.js';
import {
  aliasPresent,
  fileStep,
  firstLineIs,
  ipvsChecks,
  proc,
  virtualService,
  vipPlace,
  type IpvsChecks,
  type Step,
} from './steps.js';

export { heredocEnd, IPVS_PROC_TABLE, ipvsProcAddress, syncDaemonPattern, virtualService, type Step } from './steps.js';

export interface HostPlan {
  host: LabHost;
  steps: Step[];
}

export interface Plan {
  lab: Lab;
  hosts: HostPlan[];
}

export interface PlanOptions {
  httpd: HttpdLayout;
  /**
   * Set the realservers' arp_ignore/arp_announce (default true). Only the negative-control lab turns this off,
   * to show what breaks without them.
   */
  arpSysctls?: boolean;
}

/** After a load of short connections on DR or TUN, new ones still get the scheduler's share (NAT needs nothing). */
function reuseSteps(lab: Lab): Step[] {
  // NAT sees both halves, so its connections reach TIME_WAIT, which the default already schedules anew.
  if (lab.forwarding === 'nat') return [];
  return [
    {
      ...proc('vs/conn_reuse_mode', 3),
      why:
        'a client port used again while IPVS still holds its old connection (FIN_WAIT, the last state a DR or TUN ' +
        'director sees) is scheduled anew, not sent where the old one went: after a load of short connections, new ones ' +
        'still get the share the scheduler gives',
    },
  ];
}

/** The seed's director: the virtual service and each realserver, with ipvsadm. */
function ipvsadmSteps(lab: Lab, checks: IpvsChecks): Step[] {
  const svc = virtualService(lab);
  const { scheduler, persistence } = lab.service;
  const serviceOptions = `-s ${scheduler}${persistence ? ` -p ${persistence}` : ''}`;
  const { table } = checks;
  return [
    {
      command: `ipvsadm -A ${svc} ${serviceOptions}`,
      unless: `${table}; ${checks.serviceIs}`,
      edit: { when: `${table}; [ -n "$svc" ]`, command: `ipvsadm -E ${svc} ${serviceOptions}` },
    },
    ...lab.realservers.map((rs) => {
      // DR and TUN cannot remap ports (the packet keeps its destination), so their RIP carries none; NAT's does.
      const rip = lab.forwarding === 'nat' ? `${rs.ip}:${lab.service.port}` : rs.ip;
      const dest = `${svc} -r ${rip} ${FORWARDING[lab.forwarding]}${rs.weight === 1 ? '' : ` -w ${rs.weight}`}`;
      return {
        command: `ipvsadm -a ${dest}`,
        unless: `${table}; ${checks.destIs(rs)}`,
        edit: { when: `${table}; ${checks.destListed(rs)}`, command: `ipvsadm -e ${dest}` },
      };
    }),
  ];
}

function directorSteps(lab: Lab, options: PlanOptions, director: Host): Step[] {
  const checks = ipvsChecks(lab);
  const place = vipPlace(lab);
  // A pair's VIP is VRRP's to move: keepalived adds the same alias on whichever director is MASTER.
  const vip: Step[] = [
    ...(lab.ha ? [] : [{ command: `ifconfig ${place.dev}:0 ${lab.vip}/${place.prefix}`, unless: place.present }]),
    proc('ip_forward', 1),
  ];
  const table =
    lab.healthCheck || lab.ha ? keepalivedSteps(lab, options.httpd, director, checks) : ipvsadmSteps(lab, checks);
  return [...vip, ...table, ...reuseSteps(lab), { command: 'ipvsadm -ln', show: true }];
}

/** How a realserver accepts packets for the VIP: DR on lo, TUN on the ipip device; NAT needs only its route back. */
function vipSteps(lab: Lab, options: PlanOptions): Step[] {
  if (lab.forwarding === 'nat')
    return [
      {
        // Replies must pass the director to be translated back to the VIP.
        command: `route add default gw ${lab.director.ip}`,
        unless: `ip -4 route show default | grep -q '^default via ${lab.director.ip} '`,
      },
    ];
  const tun = lab.forwarding === 'tun';
  const arp =
    options.arpSysctls === false
      ? []
      : [
          proc('conf/eth0/arp_ignore', 1),
          proc('conf/eth0/arp_announce', 2),
          proc('conf/all/arp_ignore', 1),
          proc('conf/all/arp_announce', 2),
        ];
  const rpFilterWhy =
    'rp_filter=0 as the kernel IPVS selftest sets it on realservers: strict reverse-path filtering drops ' +
    `forwarded requests whose reply route differs (always so with TUN); the kernel uses max(all, ${tun ? 'tunl0' : 'eth0'})`;
  const rpFilter = (dev: string): Step => ({ ...proc(`conf/${dev}/rp_filter`, 0), why: rpFilterWhy });
  if (!tun)
    return [
      ...arp,
      rpFilter('all'),
      rpFilter('eth0'),
      { command: `ifconfig lo:0 ${lab.vip} netmask 255.255.255.255`, unless: aliasPresent('lo', 'lo:0', lab.vip, 32) },
    ];
  return [
    {
      // Loading ipip gives every network namespace its tunl0, which decapsulates what the director sends.
      command: 'modprobe ipip',
      unless: 'ip link show tunl0 >/dev/null 2>&1',
      why: 'TUN: the ipip module provides tunl0 (a container cannot load it; its engine host does)',
    },
    ...arp,
    rpFilter('all'),
    rpFilter('tunl0'),
    {
      command: `ifconfig tunl0 ${lab.vip} netmask 255.255.255.255 up`,
      unless: aliasPresent('tunl0', 'tunl0', lab.vip, 32),
    },
  ];
}

function realserverSteps(lab: Lab, rs: Lab['realservers'][number], options: PlanOptions): Step[] {
  const files = httpdFiles(options.httpd, rs.name);
  return [
    ...vipSteps(lab, options),
    ...(files.config
      ? [
          fileStep(
            files.config,
            instanceConfig(files, rs.ip, lab.service.port),
            'realservers share one filesystem here, so each apache2 gets its own config, pid and logs',
            files.docroot, // under the config's directory: one mkdir makes both
          ),
        ]
      : []),
    {
      command: `echo ${shq(`from ${rs.ip}`)} > ${shq(`${files.docroot}/index.html`)}`,
      unless: firstLineIs(`${files.docroot}/index.html`, `from ${rs.ip}`),
    },
    { command: startCommand(options.httpd, files), unless: daemonRunning(files.pidFile) },
  ];
}

export function planLab(lab: Lab, options: PlanOptions): Plan {
  return {
    lab,
    hosts: hostsOf(lab).map((host) => ({
      host,
      steps:
        host.role === 'director'
          ? directorSteps(lab, options, host)
          : host.role === 'realserver'
            ? realserverSteps(
                lab,
                lab.realservers.find((r) => r.name === host.name)!,
                options,
              )
            : [], // nothing on the client: it talks to the VIP on its own L2 segment (NAT: the outside one)
    })),
  };
}

/** The plan as a reader sees it: a shell-script-like listing, steps beyond the seed marked. */
export function formatPlan(plan: Plan, { guards = false } = {}): string {
  const { lab } = plan;
  const out = [
    `# lvs-lab plan for lab "${lab.name}": ${lab.forwarding.toUpperCase()} forwarding, scheduler ${lab.service.scheduler}, ` +
      `VIP ${lab.vip}:${lab.service.port} on ${lab.subnet}` +
      (lab.healthCheck ? `, keepalived health checks every ${lab.healthCheck.interval} s` : '') +
      (lab.ha
        ? `, director pair ${lab.director.name}/${lab.ha.backup.name} (VRRP id ${lab.ha.virtualRouterId}, adverts every ${lab.ha.advertInterval} s${lab.ha.sync ? ', connection sync' : ''}${lab.ha.preempt ? '' : ', nopreempt'})`
        : ''),
  ];
  for (const { host, steps } of plan.hosts) {
    out.push('', `## ${host.name} (${host.role}, ${host.ip})`);
    if (steps.length === 0) out.push('# nothing to run');
    let lastWhy: string | undefined;
    for (const step of steps) {
      // One comment covers a run of steps that share a reason (rp_filter on all and eth0).
      if (step.why && step.why !== lastWhy) out.push(`# beyond the seed: ${step.why}`);
      lastWhy = step.why;
      if (guards && step.unless) out.push(`# skipped when: ${step.unless}`);
      if (guards && step.edit) out.push(`# when ${step.edit.when}`, `#   runs instead: ${step.edit.command}`);
      out.push(step.command);
    }
  }
  return out.join('\n');
}
