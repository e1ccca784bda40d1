// Named variants of the reference lab, selectable with `--preset NAME` or as a Pulumi stack named NAME. A preset
// is only lab-file fields; a file or stack config given with it overrides them field by field.
import { LabModelError, validateLab, type Lab } from './topology.js';

interface Preset {
  summary: string;
  lab: Record<string, unknown>;
}

export const PRESETS = {
  'dr-rr': { summary: 'the reference lab: DR, round robin, two realservers', lab: { name: 'drrr' } },
  'dr-wrr': {
    summary: 'DR, weighted round robin, weights 3:1',
    lab: { name: 'drwrr', service: { scheduler: 'wrr' }, realservers: [{ weight: 3 }, { weight: 1 }] },
  },
  'dr-lc': { summary: 'DR, least connections', lab: { name: 'drlc', service: { scheduler: 'lc' } } },
  'dr-wlc': {
    summary: 'DR, weighted least connections, weights 2:1',
    lab: { name: 'drwlc', service: { scheduler: 'wlc' }, realservers: [{ weight: 2 }, { weight: 1 }] },
  },
  'dr-sh': {
    summary: 'DR, source hashing: one client, one realserver',
    lab: { name: 'drsh', service: { scheduler: 'sh' } },
  },
  'dr-dh': { summary: 'DR, destination hashing', lab: { name: 'drdh', service: { scheduler: 'dh' } } },
  'dr-mh': {
    summary: 'DR, Maglev hashing (kernels with ip_vs_mh)',
    lab: { name: 'drmh', service: { scheduler: 'mh' } },
  },
  'dr-persist': {
    summary: 'DR, round robin with 300 s persistence (ipvsadm -p 300)',
    lab: { name: 'drpers', service: { scheduler: 'rr', persistence: 300 } },
  },
  'dr-health': {
    summary: 'DR, round robin, keepalived health checks every second: a realserver whose httpd stops leaves the table',
    lab: { name: 'drhealth', healthCheck: { interval: 1, timeout: 1, retries: 1 } },
  },
  'dr-ha': {
    summary:
      'DR, round robin, two directors: keepalived VRRP moves the VIP, IPVS connection sync keeps connections through a takeover',
    lab: {
      name: 'drha',
      // The backup's address left to the model: .104 in the lab's subnet, whichever subnet a file gives.
      ha: { backup: { name: 'director2' }, advertInterval: 1, preempt: true, sync: true },
    },
  },
  'nat-rr': {
    summary: 'NAT, round robin: the client on 192.168.171.0/24 behind the director, realservers routed through it',
    lab: {
      name: 'natrr',
      forwarding: 'nat',
      outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' },
      vip: '192.168.171.100',
      client: { name: 'client', ip: '192.168.171.10' },
    },
  },
  'tun-rr': {
    summary: 'TUN, round robin: requests tunnelled (IP-in-IP) to the realservers',
    lab: { name: 'tunrr', forwarding: 'tun' },
  },
  'dr-16': {
    summary: 'DR, round robin over 16 realservers with assigned addresses',
    lab: { name: 'dr16', realservers: 16 },
  },
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export const isPreset = (name: string): name is PresetName => Object.hasOwn(PRESETS, name);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The preset's fields under `overrides` (a lab file or stack config); nested mappings merge, lists replace. */
export function withPreset(preset: string, overrides: unknown, source: string): Lab {
  if (!isPreset(preset))
    throw new LabModelError(source, [`preset: "${preset}" is not one of ${PRESET_NAMES.join(', ')}`]);
  const base = PRESETS[preset].lab as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(isObject(overrides) ? overrides : {}))
    merged[k] = isObject(v) && isObject(base[k]) ? { ...(base[k] as object), ...v } : v;
  return validateLab(merged, `${source} (preset ${preset})`);
}
