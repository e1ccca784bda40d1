// The health-checking variant's director: keepalived's checker process holds the IPVS table (its virtual_server is
// the seed's `ipvsadm -A`, each real_server an `ipvsadm -a`) and takes a realserver out while its httpd fails the
// check. Only the checker runs (--check): one director, no VRRP, so the VIP stays the seed's `ifconfig eth0:0`.
import { FORWARDING, type HealthCheck, type Lab } from '../model/topology.js';
import type { HttpdLayout } from './httpd.js';

export interface KeepalivedFiles {
  config: string;
  /** A copy of the config keepalived last (re)loaded: when it differs from `config`, a reload is due. */
  loaded: string;
  pidFile: string;
  checkersPidFile: string;
}

/** The same layout as httpd's: a host of its own uses Debian's paths, namespaces sharing a filesystem their own. */
export function keepalivedFiles(layout: HttpdLayout, host: string): KeepalivedFiles {
  const [conf, run] = layout.kind === 'system' ? ['/etc/keepalived', '/run'] : [`${layout.root}/${host}`, `${layout.root}/${host}`];
  return {
    config: `${conf}/keepalived.conf`,
    loaded: `${run}/keepalived.conf.loaded`,
    pidFile: `${run}/keepalived.pid`,
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

/** keepalived.conf for the lab's virtual service; each realserver is checked with a GET of / that must answer 200. */
export function keepalivedConfig(lab: Lab, hc: HealthCheck): string {
  const { service } = lab;
  return [
    `# lvs-lab: lab ${lab.name}'s IPVS table, held by keepalived's checker (virtual_server = ipvsadm -A, real_server = ipvsadm -a)`,
    'global_defs {',
    `  router_id ${lab.name}-${lab.director.name}`,
    '}',
    `virtual_server ${lab.vip} ${service.port} {`,
    `  delay_loop ${hc.interval}`,
    `  lb_algo ${service.scheduler}`,
    `  lb_kind ${LB_KIND[lab.forwarding]}`,
    `  protocol ${service.protocol.toUpperCase()}`,
    // Realservers start out of the table and join on their first passing check: none gets traffic before its
    // httpd answers (the hosts are provisioned side by side, so the director can be ready first).
    '  alpha',
    ...(service.persistence ? [`  persistence_timeout ${service.persistence}`] : []),
    ...lab.realservers.flatMap((rs) => [
      `  real_server ${rs.ip} ${service.port} {`,
      `    weight ${rs.weight}`,
      '    HTTP_GET {',
      '      url {',
      '        path /',
      '        status_code 200',
      '      }',
      `      connect_timeout ${hc.timeout}`,
      `      retry ${hc.retries}`,
      `      delay_before_retry ${RETRY_DELAY_SECONDS}`,
      '    }',
      '  }',
    ]),
    '}',
  ].join('\n');
}

/** Starts keepalived's checker only, with this lab's config and pid files, so several directors share a machine. */
export function keepalivedStart(files: KeepalivedFiles): string {
  return `keepalived --check --use-file ${files.config} --pid ${files.pidFile} --checkers_pid ${files.checkersPidFile}`;
}
