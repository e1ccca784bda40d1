import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../model/errors.js';
import { debianMirror, mirrorFromDeb822, mirrorFromSourcesList } from '../../../machine/mirror.js';

// This machine's own /etc/apt/sources.list.d/debian.sources, and a corporate mirror beside the security archive.
const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`;

describe("the VM image's Debian mirror", () => {
  it("takes the main archive from the host's deb822 sources, not the security one, nor a disabled or deb-src stanza", () => {
    expect(mirrorFromDeb822(DEB822)).toBe('http://deb.debian.org/debian');
    const corp =
      `Types: deb\nURIs: http://security.corp.example/debian-security\nSuites: trixie-security\nComponents: main\n\n` +
      `Types: deb-src\nURIs: http://src.corp.example/debian\nSuites: trixie\n\n` +
      `Enabled: no\nTypes: deb\nURIs: http://old.corp.example/debian\nSuites: trixie\n\n` +
      `Types: deb\nURIs: http://apt.corp.example/debian/\nSuites: trixie trixie-updates\nComponents: main\n`;
    expect(mirrorFromDeb822(corp)).toBe('http://apt.corp.example/debian');
  });

  it('reads one-line sources.list entries, with options, and ignores an Ubuntu archive', () => {
    expect(
      mirrorFromSourcesList(
        '# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n',
      ),
    ).toBe('http://mirror.example/debian');
    expect(
      mirrorFromSourcesList('deb http://security.debian.org/debian-security bookworm-security main\n'),
    ).toBeUndefined();
    expect(mirrorFromSourcesList('deb http://archive.ubuntu.com/ubuntu noble main\n')).toBeUndefined();
  });

  it('the environment variable wins; then the sources files; then deb.debian.org, each saying where it came from', () => {
    const apt = mkdtempSync(join(tmpdir(), 'apt-'));
    const fallback = debianMirror({}, apt);
    expect(fallback.url).toBe('http://deb.debian.org/debian');
    expect(fallback.from).toMatch(/^the default/);
    mkdirSync(join(apt, 'sources.list.d'));
    writeFileSync(
      join(apt, 'sources.list.d', 'debian.sources'),
      DEB822.replace('http://deb.debian.org/debian\n', 'http://proxy.example:3142/debian\n'),
    );
    expect(debianMirror({}, apt)).toEqual({
      url: 'http://proxy.example:3142/debian',
      from: join(apt, 'sources.list.d', 'debian.sources'),
    });
    expect(debianMirror({ LVS_LAB_DEBIAN_MIRROR: 'http://env.example/debian' }, apt)).toEqual({
      url: 'http://env.example/debian',
      from: 'LVS_LAB_DEBIAN_MIRROR',
    });
  });

  it('refuses a mirror that is not one http(s) URL word, from the environment or from apt, naming where it came from', () => {
    const apt = mkdtempSync(join(tmpdir(), 'apt-'));
    for (const bad of [
      '',
      'ftp://mirror.example/debian',
      'http://mirror.example/debian main\ndeb http://evil.example/debian',
      'http://mirror.example/debian bookworm',
      'http://mirror.example/$(touch /tmp/x)',
      'http://mirror.example/debian"',
    ])
      expect(() => debianMirror({ LVS_LAB_DEBIAN_MIRROR: bad }, apt)).toThrow(UserError);
    expect(() => debianMirror({ LVS_LAB_DEBIAN_MIRROR: 'file:///x' }, apt)).toThrow(
      /^LVS_LAB_DEBIAN_MIRROR: "file:\/\/\/x" is not a Debian mirror URL/,
    );
    writeFileSync(join(apt, 'sources.list'), 'deb https://mirror.example:8443/debian/ bookworm main\n');
    expect(debianMirror({}, apt).url).toBe('https://mirror.example:8443/debian');
    writeFileSync(join(apt, 'sources.list'), "deb http://mirror.example/d'x bookworm main\n");
    expect(() => debianMirror({}, apt)).toThrow(new RegExp(`^${join(apt, 'sources.list')}: `));
  });
});
