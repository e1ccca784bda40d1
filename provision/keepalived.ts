// keepalived on a director, in two roles. Health checks (dr-health): its checker holds the IPVS table (virtual_server
// is the seed's `ipvsadm -A`, each real_server an `ipvsadm -a`) and takes a realserver out while its httpd fails the
// check; with one director only the checker runs (--check) and the VIP stays the seed's `ifconfig eth0:0`. A director
// pair (dr-ha): its VRRP instance moves the VIP between the two directors, each of which holds the same table.
import { FORWARDING, type Ha, type HealthCheck, type Host, type Lab } from '../model/topology.js';
import type { HttpdLayout } from './httpd.js';
import { daemonRunning, shq } from './shell.js';
import { fileStep, syncDaemonPattern, vipPlace, type IpvsChecks, type Step } from './steps.js';

export interface KeepalivedFiles {
  config: string;
  /** A copy of the config keepalived last (re)loaded: when it differs from `config`, a reload is due. */
  loaded: string;
  pidFile: string;
  vrrpPidFile: string;
  checkersPidFile: string;
}

/** The same layout as httpd's: a host of its own uses Debian's paths, namespaces sharing a filesystem their own. */
export function keepalivedFiles(layout: HttpdLayout, host: string): KeepalivedFiles {
  const [conf, run] =
    layout.kind === 'system' ? ['/etc/keepalived', '/run'] : [`${layout.root}/${host}`, `${layout.root}/${host}`];
  return {
    config: `${conf}/keepalived.conf`,
    loaded: `${run}/keepalived.conf.loaded`,
    pidFile: `${run}/keepalived.pid`,
    vrrpPidFile: `${run}/keepalived_vrrp.pid`,
    checkersPidFile: `${run}/keepalived_checkers.pid`,
  };
}

// keepalived's lb_kind for each ipvsadm forwarding flag.
const LB_KIND = { dr: 'DR', nat: 'NAT', tun: 'TUN' } as const satisfies Record<keyof typeof FORWARDING, string>;

/** The User-Agent of keepalived's HTTP_GET: how a realserver's access log tells its checks from clients' requests. */
export const CHECKER_USER_AGENT = 'KeepAliveClient';

/** keepalived waits this long before a retry (its delay_before_retry). */
export const RETRY_DELAY_SECONDS = 1;

/**
 * The longest a realserver whose httpd stopped can stay in the table: up to one interval until its next check, then
 * each try (1 + retries) fails within the connect timeout, with a retry delay between tries.
 */
export function removalWindowSeconds(hc: HealthCheck): number {
  return hc.interval + (hc.retries + 1) * hc.timeout + hc.retries * RETRY_DELAY_SECONDS;
}

/** The longest a realserver whose httpd answers waits for its first passing check (up to one interval, then one try). */
export function joinWindowSeconds(hc: HealthCheck): number {
  return hc.interval + hc.timeout;
}

/** VRRP priorities: the director starts as MASTER, the backup takes over when its adverts stop. */
export const PRIORITY = { director: 150, backup: 100 } as const;

/**
 * The longest the backup waits before it takes the VIP once the MASTER's adverts stop: VRRP's master down interval,
 * three advert intervals plus a skew that favours higher priorities (RFC 3768 6.1).
 */
export function takeoverWindowSeconds(ha: Ha): number {
  return 3 * ha.advertInterval + ((256 - PRIORITY.backup) * ha.advertInterval) / 256;
}

/** The VRRP instance: the VIP as the seed's eth0:0 alias, added by the MASTER and removed when it steps down. */
function vrrpInstance(lab: Lab, ha: Ha, primary: boolean, prefix: number): string[] {
  // nopreempt only works when both start as BACKUP (keepalived ignores it for an initial MASTER).
  const state = ha.preempt && primary ? 'MASTER' : 'BACKUP';
  return [
    `vrrp_instance ${lab.name} {`,
    `  state ${state}`,
    '  interface eth0',
    `  virtual_router_id ${ha.virtualRouterId}`,
    `  priority ${primary ? PRIORITY.director : PRIORITY.backup}`,
    `  advert_int ${ha.advertInterval}`,
    ...(ha.preempt ? [] : ['  nopreempt']),
    '  virtual_ipaddress {',
    `    ${lab.vip}/${prefix} dev eth0 label eth0:0`,
    '  }',
    '}',
  ];
}

/** keepalived.conf of `director`: the VRRP instance of a pair, and the lab's virtual service with its checks. */
export function keepalivedConfig(lab: Lab, director: Host): string {
  const { service, healthCheck: hc, ha } = lab;
  const roles = [hc ? 'health checks' : '', ha ? 'VRRP for the VIP' : ''].filter(Boolean).join(', ');
  return [
    `# lvs-lab: lab ${lab.name}'s IPVS table on ${director.name} (virtual_server = ipvsadm -A, real_server = ipvsadm -a); ${roles}`,
    'global_defs {',
    `  router_id ${lab.name}-${director.name}`,
    '}',
    ...(ha ? vrrpInstance(lab, ha, director.name === lab.director.name, lab.prefixLength) : []),
    `virtual_server ${lab.vip} ${service.port} {`,
    ...(hc ? [`  delay_loop ${hc.interval}`] : []),
    `  lb_algo ${service.scheduler}`,
    `  lb_kind ${LB_KIND[lab.forwarding]}`,
    `  protocol ${service.protocol.toUpperCase()}`,
    // Checked realservers start out of the table and join on their first passing check: none gets traffic before
    // its httpd answers (the hosts are provisioned side by side, so the director can be ready first).
    ...(hc ? ['  alpha'] : []),
    ...(service.persistence ? [`  persistence_timeout ${service.persistence}`] : []),
    ...lab.realservers.flatMap((rs) => [
      `  real_server ${rs.ip} ${service.port} {`,
      `    weight ${rs.weight}`,
      ...(hc
        ? [
            '    HTTP_GET {',
            '      url {',
            '        path /',
            '        status_code 200',
            '      }',
            `      connect_timeout ${hc.timeout}`,
            `      retry ${hc.retries}`,
            `      delay_before_retry ${RETRY_DELAY_SECONDS}`,
            '    }',
          ]
        : []),
      '  }',
    ]),
    '}',
  ].join('\n');
}

/** Starts keepalived with this lab's config and pid files (several directors share a machine): only its checker
 * for one director, its VRRP process too for a pair. */
export function keepalivedStart(files: KeepalivedFiles, vrrp: boolean): string {
  return `keepalived ${vrrp ? '' : '--check '}--use-file ${shq(files.config)} --pid ${shq(files.pidFile)}${vrrp ? ` --vrrp_pid ${shq(files.vrrpPidFile)}` : ''} --checkers_pid ${shq(files.checkersPidFile)}`;
}

/** IPVS connection sync on a pair: each director sends what it forwards and learns the other's. */
function syncSteps(lab: Lab): Step[] {
  const ha = lab.ha;
  if (!ha?.sync) return [];
  return (['master', 'backup'] as const).map((role) => ({
    command: `ipvsadm --start-daemon ${role} --mcast-interface eth0 --syncid ${ha.virtualRouterId}`,
    unless: `ipvsadm -L --daemon | grep -qE ${shq(syncDaemonPattern(role, ha.virtualRouterId))}`,
    why:
      'IPVS connection sync: each director multicasts the connections it forwards (master daemon) and learns ' +
      "the other's (backup daemon), so whichever holds the VIP knows every established connection",
  }));
}

/** With preemption the first director is MASTER whenever it is up: wait for VRRP to give it the VIP. */
function awaitVipSteps(lab: Lab, director: Host): Step[] {
  if (!lab.ha?.preempt || director.name !== lab.director.name) return [];
  const place = vipPlace(lab);
  const limit = Math.ceil(takeoverWindowSeconds(lab.ha)) + 10;
  return [
    {
      command:
        `timeout ${limit} sh -c ${shq(`until ${place.present}; do sleep 0.2; done`)} || ` +
        `{ echo ${shq(`VRRP has not made ${director.name} MASTER (the VIP on ${place.dev}:0) within ${limit} s`)} >&2; false; }`,
      unless: place.present,
      why: `VRRP elects the MASTER within a few advert intervals: wait for the VIP (at most ${limit} s)`,
    },
  ];
}

/** A director whose IPVS table keepalived holds (health checks, a director pair): its config, start, and waits. */
export function keepalivedSteps(lab: Lab, layout: HttpdLayout, director: Host, checks: IpvsChecks): Step[] {
  const files = keepalivedFiles(layout, director.name);
  const place = vipPlace(lab);
  const why = lab.ha
    ? `a director pair: keepalived's VRRP moves the VIP (the seed's ifconfig ${place.dev}:0 ${lab.vip}/${place.prefix}, added by the MASTER only) and holds the IPVS table (virtual_server = ipvsadm -A, real_server = ipvsadm -a) on both directors`
    : 'health checks: keepalived holds the IPVS table (virtual_server = ipvsadm -A, real_server = ipvsadm -a) and takes out a realserver whose httpd stops answering';
  const running = daemonRunning(files.pidFile);
  const loaded = `cp ${shq(files.config)} ${shq(files.loaded)}`;
  const asPlanned = `${checks.table}; ${[checks.serviceIs, ...lab.realservers.map(checks.destIs)].join(' && ')}`;
  // the margin covers httpd starting on a slow machine
  const limit = (lab.healthCheck ? joinWindowSeconds(lab.healthCheck) : 0) + 10;
  const missing = `keepalived has not listed every realserver as planned within ${limit} s${lab.healthCheck ? '; those missing fail its check (GET / answering 200)' : ''}:`;
  return [
    fileStep(files.config, keepalivedConfig(lab, director), why),
    {
      command: `${keepalivedStart(files, lab.ha !== undefined)} && ${loaded}`,
      unless: `${running} && cmp -s ${shq(files.config)} ${shq(files.loaded)}`,
      // A running keepalived rereads its config on SIGHUP and edits the table in place (scheduler, weights).
      edit: { when: running, command: `kill -HUP "$(cat ${shq(files.pidFile)})" && ${loaded}` },
      why,
    },
    ...syncSteps(lab),
    {
      command:
        `timeout ${limit} sh -c ${shq(`until ${asPlanned}; do sleep 0.2; done`)} || ` +
        `{ echo ${shq(missing)} >&2; ${checks.listService} >&2; false; }`,
      unless: asPlanned,
      why: `keepalived fills the table in the background${lab.healthCheck ? ', each realserver once it passes a check' : ''}: wait for it (at most ${limit} s)`,
    },
    ...awaitVipSteps(lab, director),
  ];
}
