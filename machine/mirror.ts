// Where the VM image's packages come from: LVS_LAB_DEBIAN_MIRROR, else the Debian mirror this host's own apt uses
// (so a corporate mirror or proxy works with no setting), else deb.debian.org. Parsing is pure; reading is not.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

// Suites of Debian's main archive (an Ubuntu host's archive cannot debootstrap bookworm; its mirror is not taken).
const DEBIAN_SUITES = new Set([
  'buster',
  'bullseye',
  'bookworm',
  'trixie',
  'forky',
  'sid',
  'oldoldstable',
  'oldstable',
  'stable',
  'testing',
  'unstable',
]);

/** A main-archive Debian source: a `deb` line for a Debian suite that is not the security archive. */
const isMainArchive = (uri: string, suites: string[]) =>
  !/security/.test(uri) &&
  suites.some(
    (s) => !s.includes('security') && DEBIAN_SUITES.has(s.replace(/-(updates|backports|proposed-updates)$/, '')),
  );

/** The first Debian main-archive URI in deb822 `.sources` text. */
export function mirrorFromDeb822(text: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) =>
      new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi')
        .exec(
          stanza
            .split('\n')
            .filter((l) => !l.startsWith('#'))
            .join('\n'),
        )?.[1]
        .trim()
        .split(/\s+/) ?? [];
    if (!field('Types').includes('deb') || field('Enabled')[0]?.toLowerCase() === 'no') continue;
    const uri = field('URIs').find((u) => isMainArchive(u, field('Suites')));
    if (uri) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

/** The first Debian main-archive URI in one-line-style `sources.list` text. */
export function mirrorFromSourcesList(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m && isMainArchive(m[1], [m[2]])) return m[1].replace(/\/+$/, '');
  }
  return undefined;
}

/**
 * A mirror URL as apt's sources and debootstrap take it: one http(s) word of URL characters, nothing that a config
 * line or a shell would read as more (a space, a newline, a quote).
 */
export const MIRROR_PATTERN = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%+/-]*)?$/;

/** Refuses a mirror that is not one http(s) URL word; `from` names where it came from. */
export function checkedMirror(url: string, from: string): string {
  if (url.length > 200 || !MIRROR_PATTERN.test(url))
    throw new UserError(
      `${from}: ${JSON.stringify(url.slice(0, 80))} is not a Debian mirror URL (one http:// or https:// URL, ` +
        'letters, digits and ./-_~%+ only)',
    );
  return url.replace(/\/+$/, '');
}

/** The mirror and where it came from, for the progress line. */
export function debianMirror(env = process.env, aptDir = '/etc/apt'): { url: string; from: string } {
  if (env.LVS_LAB_DEBIAN_MIRROR !== undefined)
    return { url: checkedMirror(env.LVS_LAB_DEBIAN_MIRROR, 'LVS_LAB_DEBIAN_MIRROR'), from: 'LVS_LAB_DEBIAN_MIRROR' };
  const dir = join(aptDir, 'sources.list.d');
  const listed = existsSync(dir) ? readdirSync(dir).sort() : [];
  const files: Array<[string, (t: string) => string | undefined]> = [
    ...listed
      .filter((f) => f.endsWith('.sources'))
      .map((f): [string, typeof mirrorFromDeb822] => [join(dir, f), mirrorFromDeb822]),
    [join(aptDir, 'sources.list'), mirrorFromSourcesList],
    ...listed
      .filter((f) => f.endsWith('.list'))
      .map((f): [string, typeof mirrorFromSourcesList] => [join(dir, f), mirrorFromSourcesList]),
  ];
  for (const [file, parse] of files) {
    if (!existsSync(file)) continue;
    const url = parse(readFileSync(file, 'utf8'));
    if (url) return { url: checkedMirror(url, file), from: file };
  }
  return { url: DEFAULT_MIRROR, from: "the default (this host's apt lists no Debian mirror)" };
}
