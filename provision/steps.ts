// The pieces every host's plan is made of: a step (a command and the check that skips it when in place), and the
// checks and steps several plans share (a /proc/sys value, a whole file, an address alias, the IPVS table as read).
import type { Lab, Realserver } from '../model/topology.js';
import { FORWARD_COLUMN } from '../model/topology.js';
import { hexOctets } from '../model/addressing.js';
import { shq } from './shell.js';

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

// Checks read with the shell's own `read` and match with `case` where they can: every process a check starts costs
// time under software emulation, and a lab runs dozens of checks.
/** A check that the file's first line is `value` (its status is not `read`'s: that fails on a last line without a
 * newline, and /proc/sys files end early for a shell reading them a byte at a time). */
export const firstLineIs = (file: string, value: string) =>
  `{ v=; read v < ${shq(file)}; } 2>/dev/null; [ "$v" = ${shq(value)} ]`;

export const proc = (path: string, value: number): Step => ({
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
export const fileStep = (path: string, content: string, why: string, dir = path.replace(/\/[^/]+$/, '')): Step => ({
  command: `mkdir -p ${shq(dir)} && cat > ${shq(path)} <<'${heredocEnd(content)}'\n${content}\n${heredocEnd(content)}`,
  unless:
    `c=; [ -r ${shq(path)} ] && while IFS= read -r l; do c="$c$l\n"; done < ${shq(path)}; ` +
    `[ "$c" = ${shq(`${content}\n`)} ]`,
  why,
});

/** An `ifconfig <label> ...` alias is in place when that label carries the address with that prefix. */
export const aliasPresent = (dev: string, label: string, address: string, prefix: number) =>
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
 * own `read`, so a check starts no process (ipvsadm piped to grep is two under software emulation): `$svc` becomes
 * its scheduler and flags ("rr"; empty when there is no such service) and `$dests` its destinations, each as
 * "|ADDR:PORT FORWARD WEIGHT" in the kernel's hex.
 */
export function readIpvsService(lab: Lab): string {
  const key = `${lab.service.protocol.toUpperCase()} ${ipvsProcAddress(lab.vip, lab.service.port)}`;
  return (
    `svc=; dests=; ours=; [ -r ${IPVS_PROC_TABLE} ] && while read -r a b c d e; do case $a in ` +
    `'->') [ -n "$ours" ] && dests="$dests|$b $c $d" ;; ` +
    `*) if [ "$a $b" = ${shq(key)} ]; then ours=1; svc="$c\${d:+ $d}\${e:+ $e}"; else ours=; fi ;; ` +
    `esac; done < ${IPVS_PROC_TABLE}`
  );
}

/** Checks of the lab's virtual service as the kernel has it: the scheduler (and persistence), each destination. */
export function ipvsChecks(lab: Lab) {
  const { scheduler, persistence } = lab.service;
  const listService = `ipvsadm -Ln ${virtualService(lab)}`;
  // `ipvsadm -Ln` pads its columns with runs of spaces, so its check is an extended regex:
  // "TCP  192.168.170.100:80 rr persistent 300".
  const at = (ip: string) => `${ip.replace(/\./g, '\\.')}:${lab.service.port}`;
  const listed = (pattern: string) => `${listService} 2>/dev/null | grep -Eq -- ${shq(pattern)}`;
  const serviceLine = `^${lab.service.protocol.toUpperCase()} +${at(lab.vip)} +${scheduler}${persistence ? ` +persistent +${persistence}` : ''} *$`;
  const procDest = (rs: Realserver) => ipvsProcAddress(rs.ip, lab.service.port);
  const inDests = (text: string) => `case "$dests|" in *${shq(text)}*) ;; *) false ;; esac`;
  return {
    listService,
    /** Reads the table into $svc and $dests (readIpvsService): run before the checks below. */
    table: readIpvsService(lab),
    // The checks read the kernel's table and test what it set. Only a persistent service's is ipvsadm's: the kernel
    // lists its timeout in jiffies, whose length is the kernel's build option.
    serviceIs: persistence ? listed(serviceLine) : `[ "$svc" = ${shq(scheduler)} ]`,
    destIs: (rs: Realserver) => inDests(`|${procDest(rs)} ${FORWARD_COLUMN[lab.forwarding]} ${rs.weight}|`),
    destListed: (rs: Realserver) => inDests(`|${procDest(rs)} `),
  };
}
export type IpvsChecks = ReturnType<typeof ipvsChecks>;

/** Where the director carries the VIP: DR and TUN beside the DIP on the lab network; NAT on the outside interface. */
export function vipPlace(lab: Lab) {
  const [dev, prefix] = lab.forwarding === 'nat' ? ['eth1', lab.outsidePrefixLength!] : ['eth0', lab.prefixLength];
  return { dev, prefix, present: aliasPresent(dev, `${dev}:0`, lab.vip, prefix) };
}
