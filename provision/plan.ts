// model -> plan: the exact, ordered shell commands per host. Pure: no I/O, so the text can be pinned by tests
// and printed before anything runs.
import {
  FORWARD_COLUMN,
  FORWARDING,
  hostsOf,
  type Host,
  type Lab,
  type LabHost,
  type Realserver,
} from '../model/topology.js';
import { httpdFiles, instanceConfig, startCommand, type HttpdLayout } from './httpd.js';
import {
  joinWindowSeconds,
  keepalivedConfig,
  keepalivedFiles,
  keepalivedStart,
  takeoverWindowSeconds,
} from './keepalived.js';
import { hexOctets } from '../model/addressing.js';
import { daemonRunning, shq } from './shell.js';

export interface Step {
  command: string;
  /** A check run first; when it exits 0 the step is already in place and is skipped (re-apply changes nothing). */
  unless?: string;
  /** Why a step beyond the seed's commands is there; printed as a comment above it. */
  why?: string;
  /** Its output is the point (ipvsadm -ln): apply prints it. */
  show?: boolean;
  /**
   * The in-place form of this step for a host that has the object with other settings (a running lab whose
   * scheduler or weight changed): when `when` exits 0, `command` here runs instead of the step's own.
   */
  edit?: { when: string; command: string };
}

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

// Checks read with the shell's own `read` and match with `case` where they can: every process a check starts costs
// ~0.1 s under software emulation, and a lab runs dozens of checks.
/** A check that the file's first line is `value` (its status is not `read`'s: that fails on a last line without a
 * newline, and /proc/sys files end early for a shell reading them a byte at a time). */
const firstLineIs = (file: string, value: string) =>
  `{ v=; read v < ${shq(file)}; } 2>/dev/null; [ "$v" = ${shq(value)} ]`;

const proc = (path: string, value: number): Step => ({
  command: `echo ${value} > /proc/sys/net/ipv4/${path}`,
  unless: firstLineIs(`/proc/sys/net/ipv4/${path}`, String(value)),
});

/** A here-document's end word that no line of `content` is: EOF, else EOF1, EOF2, ... (a line "EOF" in a file's text
 * would otherwise end it early, and the lines after it would run as commands). */
export function heredocEnd(content: string): string {
  const lines = new Set(content.split('\n'));
  let end = 'EOF';
  for (let i = 1; lines.has(end); i++) end = `EOF${i}`;
  return end;
}

/**
 * Writes a whole file after creating `dir`; in place when the file already has exactly this content (read line by
 * line with the shell's own `read`: a last line without its newline is not read, so that file is rewritten).
 */
const fileStep = (path: string, content: string, why: string, dir = path.replace(/\/[^/]+$/, '')): Step => ({
  command: `mkdir -p ${shq(dir)} && cat > ${shq(path)} <<'${heredocEnd(content)}'\n${content}\n${heredocEnd(content)}`,
  unless:
    `c=; [ -r ${shq(path)} ] && while IFS= read -r l; do c="$c$l\n"; done < ${shq(path)}; ` +
    `[ "$c" = ${shq(`${content}\n`)} ]`,
  why,
});

/** An `ifconfig <label> ...` alias is in place when that label carries the address with that prefix. */
const aliasPresent = (dev: string, label: string, address: string, prefix: number) =>
  `case "$(ip -4 -o addr show dev ${dev} label ${label})" in *' inet ${address}/${prefix} '*) ;; *) false ;; esac`;

export const virtualService = (lab: Lab): string => `-t ${lab.vip}:${lab.service.port}`;

/** An extended regex for `ipvsadm -L --daemon`'s line of a running sync daemon of this lab (newer ipvsadm appends
 * maxlen, group, port and ttl). */
export const syncDaemonPattern = (role: 'master' | 'backup', syncId: number) =>
  `^${role} sync daemon \\(mcast=eth0, syncid=${syncId}[,)]`;

/** An IPv4 address and port as the kernel's /proc/net/ip_vs prints them (hex, network order): C0A8AA66:0050. */
export const ipvsProcAddress = (ip: string, port: number): string =>
  `${hexOctets(ip).join('')}:${port.toString(16).padStart(4, '0')}`.toUpperCase();

export const IPVS_PROC_TABLE = '/proc/net/ip_vs';

/**
 * Reads the lab's virtual service from the kernel's IPVS table of the namespace (/proc/net/ip_vs) with the shell's
 * own `read`, so a check starts no process (ipvsadm piped to grep is two, ~0.1 s each under emulation): `$svc` becomes
 * its scheduler and flags ("rr"; empty when there is no such service) and `$dests` its destinations, each as
 * "|ADDR:PORT FORWARD WEIGHT" in the kernel's hex.
 */
function readIpvsService(lab: Lab): string {
  const key = `${lab.service.protocol.toUpperCase()} ${ipvsProcAddress(lab.vip, lab.service.port)}`;
  return (
    `svc=; dests=; ours=; [ -r ${IPVS_PROC_TABLE} ] && while read -r a b c d e; do case $a in ` +
    `'->') [ -n "$ours" ] && dests="$dests|$b $c $d" ;; ` +
    `*) if [ "$a $b" = ${shq(key)} ]; then ours=1; svc="$c\${d:+ $d}\${e:+ $e}"; else ours=; fi ;; ` +
    `esac; done < ${IPVS_PROC_TABLE}`
  );
}

function directorSteps(lab: Lab, options: PlanOptions, director: Host): Step[] {
  const svc = virtualService(lab);
  const { scheduler, persistence } = lab.service;
  const listService = `ipvsadm -Ln ${svc}`;
  const serviceOptions = `-s ${scheduler}${persistence ? ` -p ${persistence}` : ''}`;
  // `ipvsadm -Ln` pads its columns with runs of spaces, so its check is an extended regex:
  // "TCP  192.168.170.100:80 rr persistent 300".
  const at = (ip: string) => `${ip.replace(/\./g, '\\.')}:${lab.service.port}`;
  const listed = (pattern: string) => `${listService} 2>/dev/null | grep -Eq -- ${shq(pattern)}`;
  const serviceLine = `^${lab.service.protocol.toUpperCase()} +${at(lab.vip)} +${scheduler}${persistence ? ` +persistent +${persistence}` : ''} *$`;
  // The checks read the kernel's table (readIpvsService) and test what it set. Only a persistent service's is
  // ipvsadm's: the kernel lists its timeout in jiffies, whose length is the kernel's build option.
  const table = readIpvsService(lab);
  const serviceIs = persistence ? listed(serviceLine) : `[ "$svc" = ${shq(scheduler)} ]`;
  const procDest = (rs: Realserver) => ipvsProcAddress(rs.ip, lab.service.port);
  const inDests = (text: string) => `case "$dests|" in *${shq(text)}*) ;; *) false ;; esac`;
  const destIs = (rs: Realserver) => inDests(`|${procDest(rs)} ${FORWARD_COLUMN[lab.forwarding]} ${rs.weight}|`);
  const destListed = (rs: Realserver) => inDests(`|${procDest(rs)} `);
  // DR and TUN: the VIP beside the DIP on the lab network. NAT: on the outside interface, where the client is.
  const [vipDev, vipPrefix] =
    lab.forwarding === 'nat' ? ['eth1', lab.outsidePrefixLength!] : ['eth0', lab.prefixLength];
  const vipAlias = aliasPresent(vipDev, `${vipDev}:0`, lab.vip, vipPrefix);
  // A pair's VIP is VRRP's to move: keepalived adds the same alias on whichever director is MASTER.
  const vip: Step[] = [
    ...(lab.ha ? [] : [{ command: `ifconfig ${vipDev}:0 ${lab.vip}/${vipPrefix}`, unless: vipAlias }]),
    proc('ip_forward', 1),
  ];
  const show: Step = { command: 'ipvsadm -ln', show: true };
  // NAT sees both halves, so its connections reach TIME_WAIT, which the default already schedules anew.
  const reuse: Step[] =
    lab.forwarding === 'nat'
      ? []
      : [
          {
            ...proc('vs/conn_reuse_mode', 3),
            why:
              'a client port used again while IPVS still holds its old connection (FIN_WAIT, the last state a DR or TUN ' +
              'director sees) is scheduled anew, not sent where the old one went: after a load of short connections, new ones ' +
              'still get the share the scheduler gives',
          },
        ];
  if (lab.healthCheck || lab.ha) {
    const files = keepalivedFiles(options.httpd, director.name);
    const why = lab.ha
      ? `a director pair: keepalived's VRRP moves the VIP (the seed's ifconfig ${vipDev}:0 ${lab.vip}/${vipPrefix}, added by the MASTER only) and holds the IPVS table (virtual_server = ipvsadm -A, real_server = ipvsadm -a) on both directors`
      : 'health checks: keepalived holds the IPVS table (virtual_server = ipvsadm -A, real_server = ipvsadm -a) and takes out a realserver whose httpd stops answering';
    const running = daemonRunning(files.pidFile);
    const loaded = `cp ${shq(files.config)} ${shq(files.loaded)}`;
    const asPlanned = `${table}; ${[serviceIs, ...lab.realservers.map(destIs)].join(' && ')}`;
    // the margin covers httpd starting on a slow machine
    const limit = (lab.healthCheck ? joinWindowSeconds(lab.healthCheck) : 0) + 10;
    const sync: Step[] = lab.ha?.sync
      ? (['master', 'backup'] as const).map((role) => ({
          command: `ipvsadm --start-daemon ${role} --mcast-interface eth0 --syncid ${lab.ha!.virtualRouterId}`,
          unless: `ipvsadm -L --daemon | grep -qE ${shq(syncDaemonPattern(role, lab.ha!.virtualRouterId))}`,
          why:
            'IPVS connection sync: each director multicasts the connections it forwards (master daemon) and learns ' +
            "the other's (backup daemon), so whichever holds the VIP knows every established connection",
        }))
      : [];
    // With preemption the director is MASTER whenever it is up: wait for VRRP to give it the VIP.
    const vipLimit = lab.ha ? Math.ceil(takeoverWindowSeconds(lab.ha)) + 10 : 0;
    const awaitVip: Step[] =
      lab.ha?.preempt && director.name === lab.director.name
        ? [
            {
              command:
                `timeout ${vipLimit} sh -c ${shq(`until ${vipAlias}; do sleep 0.2; done`)} || ` +
                `{ echo ${shq(`VRRP has not made ${director.name} MASTER (the VIP on ${vipDev}:0) within ${vipLimit} s`)} >&2; false; }`,
              unless: vipAlias,
              why: `VRRP elects the MASTER within a few advert intervals: wait for the VIP (at most ${vipLimit} s)`,
            },
          ]
        : [];
    return [
      ...vip,
      fileStep(files.config, keepalivedConfig(lab, director), why),
      {
        command: `${keepalivedStart(files, lab.ha !== undefined)} && ${loaded}`,
        unless: `${running} && cmp -s ${shq(files.config)} ${shq(files.loaded)}`,
        // A running keepalived rereads its config on SIGHUP and edits the table in place (scheduler, weights).
        edit: { when: running, command: `kill -HUP "$(cat ${shq(files.pidFile)})" && ${loaded}` },
        why,
      },
      ...sync,
      {
        command:
          `timeout ${limit} sh -c ${shq(`until ${asPlanned}; do sleep 0.2; done`)} || ` +
          `{ echo ${shq(`keepalived has not listed every realserver as planned within ${limit} s${lab.healthCheck ? '; those missing fail its check (GET / answering 200)' : ''}:`)} >&2; ${listService} >&2; false; }`,
        unless: asPlanned,
        why: `keepalived fills the table in the background${lab.healthCheck ? ', each realserver once it passes a check' : ''}: wait for it (at most ${limit} s)`,
      },
      ...awaitVip,
      ...reuse,
      show,
    ];
  }
  return [
    ...vip,
    {
      command: `ipvsadm -A ${svc} ${serviceOptions}`,
      unless: `${table}; ${serviceIs}`,
      edit: { when: `${table}; [ -n "$svc" ]`, command: `ipvsadm -E ${svc} ${serviceOptions}` },
    },
    ...lab.realservers.map((rs) => {
      // DR and TUN cannot remap ports (the packet keeps its destination), so their RIP carries none; NAT's does.
      const rip = lab.forwarding === 'nat' ? `${rs.ip}:${lab.service.port}` : rs.ip;
      const dest = `${svc} -r ${rip} ${FORWARDING[lab.forwarding]}${rs.weight === 1 ? '' : ` -w ${rs.weight}`}`;
      return {
        command: `ipvsadm -a ${dest}`,
        unless: `${table}; ${destIs(rs)}`,
        edit: { when: `${table}; ${destListed(rs)}`, command: `ipvsadm -e ${dest}` },
      };
    }),
    ...reuse,
    show,
  ];
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
