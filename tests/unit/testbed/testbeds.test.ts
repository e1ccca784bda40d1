import { describe, expect, it } from 'vitest';
import { referenceLab, validateLab } from '../../../model/topology.js';
import { topologyChanges } from '../../../lab/lifecycle.js';
import { withPreset } from '../../../model/presets.js';
import { dockerLabSpec } from '../../../docker/spec.js';
import { macFor } from '../../../model/addressing.js';
import { leftoversScript, NetnsLab, networkSteps, teardownScript } from '../../../testbed/netns.js';
import { netnsNames } from '../../../testbed/names.js';
import { preflightScript } from '../../../testbed/preflight.js';
import { LocalShell, shq, type Shell } from '../../../provision/shell.js';
import { qemuArgs, type Accel } from '../../../machine/qemu.js';
import { basename } from 'node:path';
import { ENGINE_OWNER, footprint, LIBVIRT_OWNER, ownedBy, ownerOf } from '../../../lab/footprint.js';
import { ENGINE_VM, engineDir } from '../../../docker/engine-vm.js';
import { UNDERLAY_NETNS } from '../../../machine/underlay.js';
import { labStateDir } from '../../../base/paths.js';
import { lockFile } from '../../../lab/lock.js';
import { LIBVIRT_NETNS } from '../../../testbed/vagrant/libvirt.js';
import { domainPrefix, mgmtNetworkName } from '../../../testbed/vagrant/vagrantfile.js';

describe('netns testbed', () => {
  const lab = referenceLab();
  const steps = networkSteps(lab).map((s) => s.command);

  it('gives each host a namespace with eth0 on one bridge, hosts attached in model order', () => {
    const script = steps.join('\n');
    expect([...script.matchAll(/echo 'netns add (\S+)'/g)].map((m) => m[1])).toEqual(
      ['client', 'director', 'rs1', 'rs2'].map((h) => `lvs-${h}`),
    );
    // Only what is missing is created: a half-built network is completed.
    expect(script).toContain("[ -e /run/netns/lvs-director ] || echo 'netns add lvs-director'");
    expect(script).toContain(
      "[ -e /sys/class/net/lvs-v1 ] || echo 'link add lvs-v1 type veth peer name eth0 address 02:00:c0:a8:aa:65 netns lvs-director'",
    );
    // Then every namespace's own addresses and links, side by side in one step.
    expect(steps).toHaveLength(2);
    expect(steps[1]).toContain(
      "( {\n  echo 'link set lo up'\n  echo 'addr replace 192.168.170.103/24 dev eth0'\n  echo 'link set eth0 up'\n} | ip -n lvs-rs2 -batch - ) &",
    );
    expect(steps[1].match(/ip -n lvs-\S+ -batch - \) &/g)).toHaveLength(4);
    expect(script.match(/master lvs-br up/g)).toHaveLength(4);
  });

  it('has no uplink: the bridge gets no address and no host gets a route', () => {
    expect(steps.some((c) => /addr add .* dev lvs-br/.test(c))).toBe(false);
    expect(steps.some((c) => /route add|default/.test(c))).toBe(false);
  });

  it('keeps link names within the kernel limit of 15 characters', () => {
    const big = validateLab({
      name: 'abcdefgh',
      realservers: Array.from({ length: 16 }, (_, i) => ({ name: `rs${i}`, ip: `192.168.170.${120 + i}` })),
    });
    const n = netnsNames(big);
    expect(n.bridge.length).toBeLessThanOrEqual(15);
    expect(n.veth(17).length).toBeLessThanOrEqual(15);
  });

  it('spells the IP in the MAC, locally administered', () => {
    expect(macFor('192.168.170.101')).toBe('02:00:c0:a8:aa:65');
  });

  it('tears down every namespace and link it builds, and checks for exactly those', () => {
    const script = teardownScript(lab);
    const left = leftoversScript(lab);
    // Whole words: "lvs-bro" must not stand for "lvs-br".
    const word = (w: string) => new RegExp(`(^|[\\s'"])${w}([\\s;'"]|$)`, 'm');
    for (const h of ['client', 'director', 'rs1', 'rs2']) {
      expect(script).toMatch(word(`lvs-${h}`));
      expect(left).toMatch(word(`lvs-${h}`));
    }
    for (const link of ['lvs-v0', 'lvs-v3', 'lvs-br']) {
      expect(script).toMatch(word(link));
      expect(left).toMatch(word(link));
    }
    expect(script).toContain('rm -rf /run/lvs-lab/lvs');
  });

  it('reads the effective uid itself: root passes, another user is told the lab needs root', async () => {
    // Only the uid check: no IPVS probe, no names, so the script creates nothing wherever it runs.
    const script = preflightScript(referenceLab(), { ipvs: false });
    const rootLine = /^root: network namespaces and IPVS need root/m;
    const asNobody = await new LocalShell().exec(
      `setpriv --reuid=65534 --regid=65534 --clear-groups sh -c ${shq(script)}`,
    );
    if (process.getuid!() === 0) {
      expect((await new LocalShell().exec(script)).stdout).not.toMatch(rootLine);
      expect(asNobody.stdout).toMatch(rootLine);
    } else expect((await new LocalShell().exec(script)).stdout).toMatch(rootLine);
  });

  it('probes IPVS with the lab scheduler in a throwaway namespace on a documentation address', () => {
    const script = preflightScript(validateLab({ service: { scheduler: 'sh' } }));
    expect(script).toContain('[ ! -d /sys/module/ip_vs_sh ] && modprobe -q -a ip_vs ip_vs_sh');
    expect(script).toContain('unshare -n ipvsadm -A -t 192.0.2.1:80 -s sh');
    // no named namespace: nothing to remove if the probe is interrupted
    expect(script).not.toContain('ip netns add');
  });
});

const VM_BOOT = {
  name: 'lvs-lab-lvs',
  dir: '/state/lvs',
  sshPort: 40022,
  publicKey: 'AAAAkey',
  image: {
    dir: '/img',
    disk: '/img/disk.raw',
    kernel: '/img/vmlinuz',
    initrd: '/img/initrd.img',
    kernelVersion: '6.1',
    hostKey: 'x',
  },
};
const TCG: Accel = { name: 'tcg', args: ['-accel', 'tcg'] };

describe('VM testbed', () => {
  const boot = VM_BOOT;
  const tcg = TCG;
  const args = qemuArgs(boot, tcg);
  const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);

  it('gives the guest one restricted user-net NIC whose only way in is SSH on loopback (and an RNG and a VM generation ID, no other device)', () => {
    expect(after('-netdev')).toEqual(['user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22']);
    expect(after('-device')).toEqual(['virtio-net-pci,netdev=n0', 'virtio-rng-pci', 'vmgenid,guid=auto']);
    expect(args).not.toContain('-nic');
    expect(args).not.toContain('-incoming');
  });

  it('restores a saved VM over an overlay of its saved disk and a private mapping of its saved memory, paused until resumed, with a QMP socket of its own', () => {
    const saving = qemuArgs({ ...boot, saveRamTo: '/state/lvs/ram' }, tcg);
    const restored = qemuArgs(
      {
        ...boot,
        restore: {
          disk: '/img/saved/lab-1/disk.qcow2',
          ram: '/img/saved/lab-1/ram',
        },
      },
      tcg,
    );
    const flag = (a: string[], f: string) => a.filter((_, i) => a[i - 1] === f);
    // The guest's memory: a file the VM being saved writes into (shared), which each restored VM maps copy-on-write.
    expect(flag(saving, '-object')).toEqual([
      'memory-backend-file,id=pc.ram,size=1024M,mem-path=/state/lvs/ram,share=on',
    ]);
    expect(flag(restored, '-object')).toEqual([
      'memory-backend-file,id=pc.ram,size=1024M,mem-path=/img/saved/lab-1/ram,share=off',
    ]);
    expect(flag(restored, '-machine')).toEqual(['memory-backend=pc.ram']);
    // The device state is loaded over QMP once the capability it was saved with is set (saved.ts).
    expect(flag(restored, '-incoming')).toEqual(['defer']);
    // Through the VM's directory, qemu's fd 3 (runQemu): the same argument wherever the directory is.
    expect(flag(restored, '-qmp')).toEqual(['unix:/proc/self/fd/3/qmp.sock,server=on,wait=off']);
    // Apart from those, the very command line the saved VM ran: a saved state only loads into identical devices.
    const rest = (a: string[]) =>
      a.slice(0, a.includes('-incoming') ? a.indexOf('-incoming') : a.length).filter((x) => !x.includes('mem-path='));
    expect(rest(restored)).toEqual(rest(saving));
    // A cold boot's memory is qemu's own, as ever.
    expect(args).not.toContain('-object');
    expect(rest(saving).filter((x) => !['-object', '-machine', 'memory-backend=pc.ram'].includes(x))).toEqual(args);
  });

  it("boots Debian's kernel from a throwaway overlay, with the lab key on the command line", () => {
    expect(after('-drive')).toEqual(['file=/state/lvs/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe']);
    expect(after('-kernel')).toEqual(['/img/vmlinuz']);
    expect(after('-append')[0]).toContain('init=/sbin/lvs-lab-init lvslab.key=AAAAkey');
    expect(after('-name')).toEqual(['lvs-lab-lvs,process=lvs-lab-lvs']);
  });
});

describe('netns testbed for NAT and TUN', () => {
  it("NAT: a second bridge for the client's network, the director's eth1 on it, both torn down", () => {
    const lab = withPreset('nat-rr', {}, 't');
    const cmds = networkSteps(lab).map((s) => s.command);
    const script = cmds.join('\n');
    expect(script).toContain("echo 'link add natrr-bro type bridge'");
    expect(script).toContain(
      "echo 'link add natrr-vo type veth peer name eth1 address 02:00:c0:a8:ab:01 netns natrr-director'",
    );
    expect(cmds[1]).toContain("echo 'addr replace 192.168.171.1/24 dev eth1'\n  echo 'link set eth1 up'");
    expect(script).toContain("echo 'link set natrr-v0 master natrr-bro up'"); // the client
    expect(script).toContain("echo 'link set natrr-v1 master natrr-br up'"); // the director's eth0
    expect(teardownScript(lab)).toMatch(/for link in .*natrr-vo natrr-br natrr-bro;/);
    expect(leftoversScript(lab)).toContain('natrr-bro');
  });

  it('probes ipip in a throwaway namespace for TUN labs only', () => {
    expect(preflightScript(withPreset('tun-rr', {}, 't'))).toMatch(
      /modprobe -q ipip[\s\S]*unshare -n ip link show tunl0[\s\S]*kernel: no ipip tunnels/,
    );
    expect(preflightScript(referenceLab())).not.toContain('ipip');
  });
});

describe('Docker spec for NAT', () => {
  it('puts the client on an outside network and the director on both; NAT realservers get no ARP sysctls', () => {
    const spec = dockerLabSpec(withPreset('nat-rr', {}, 't'));
    expect(spec.outside).toMatchObject({
      name: 'lvs-lab-natrr-out',
      subnet: '192.168.171.0/24',
      gateway: '192.168.171.254',
    });
    const by = (host: string) => spec.containers.find((c) => c.host === host)!;
    expect(by('client')).toMatchObject({ network: 'outside', ip: '192.168.171.10' });
    expect(by('director')).toMatchObject({ network: 'lab', ip: '192.168.170.101', outsideIp: '192.168.171.1' });
    expect(by('rs1').sysctls).toEqual({ 'net.ipv4.ip_forward': '0' }); // no ARP keys, and no forwarding: a plain host
    expect(dockerLabSpec(referenceLab()).outside).toBeUndefined();
  });
});

describe('redeploy in place', () => {
  it('lets scheduler, persistence and weights change on a running lab, and names anything else that changed', () => {
    const ref = referenceLab();
    expect(topologyChanges(ref, withPreset('dr-wrr', { name: 'lvs' }, 't'))).toEqual([]);
    expect(topologyChanges(ref, validateLab({ service: { scheduler: 'sh', persistence: 60 } }))).toEqual([]);
    expect(topologyChanges(ref, validateLab({ realservers: 3 }))).toEqual(['realservers']);
    expect(topologyChanges(ref, validateLab({ forwarding: 'tun' }))).toEqual(['forwarding']);
    expect(topologyChanges(ref, withPreset('nat-rr', { name: 'lvs' }, 't'))).toEqual([
      'vip',
      'forwarding',
      'client',
      'outside',
    ]);
    // Health checks on or off changes who holds the table; their timings change in place.
    const checked = withPreset('dr-health', { name: 'lvs' }, 't');
    expect(topologyChanges(ref, checked)).toEqual(['health checks']);
    expect(topologyChanges(checked, validateLab({ healthCheck: { interval: 5 } }))).toEqual([]);
  });
});

describe('footprint owners', () => {
  const qemu = (name: string) =>
    `process ${['qemu-system-x86_64', ...qemuArgs({ ...VM_BOOT, name }, TCG)].join(' ')}`.slice(0, 88);
  const vagrant = validateLab({ name: 'vtest' }, 'test');
  const lines = {
    k9: [
      qemu('lvs-lab-k9'),
      `process ssh ControlPath=${labStateDir('k9')}/ssh.ctl`,
      'lab state k9',
      `lab lock ${basename(lockFile('k9'))}`,
    ],
    itest: ['run dir itest', 'process apache2 -f /run/lvs-lab/itest/rs1/apache2.conf -k start'],
    [ENGINE_OWNER]: [
      qemu(ENGINE_VM),
      `process ssh ControlPath=${engineDir()}/ssh.ctl`,
      qemu(`${ENGINE_VM}-b`),
      `process ssh ControlPath=${engineDir('b')}/ssh.ctl`,
      `netns ${UNDERLAY_NETNS}`,
      `mount /run/netns/${UNDERLAY_NETNS}`,
    ],
    [LIBVIRT_OWNER]: [
      `netns ${LIBVIRT_NETNS}`,
      `mount /run/netns/${LIBVIRT_NETNS}`,
      'process libvirtd -d -p /run/lvs-lab/libvirt/libvirtd.pid',
      'process virtlogd -d -p /run/lvs-lab/libvirt/virtlogd.pid',
      'run dir libvirt',
      'process /usr/sbin/dnsmasq --conf-file=/var/lib/libvirt/dnsmasq/x.conf',
    ],
    vtest: [
      `process /usr/bin/qemu-system-x86_64 -name guest=${domainPrefix(vagrant)}director,debug-threads=on`,
      `domain ${domainPrefix(vagrant)}rs1`,
      `network ${mgmtNetworkName(vagrant)}`,
      `volume default/${domainPrefix(vagrant)}rs1.img`,
      'lab state vtest',
    ],
    // a netns lab's own names carry no prefix of the kit's: nobody known owns them, so every listing compares them
    nobody: ['netns lvs-rs1', 'link lvs-br', 'link eth0', 'mount /run/netns/lvs-rs1'],
  };

  it('names the lab, the engine VM or the kit libvirtd behind each line it can attribute', () => {
    for (const [owner, ls] of Object.entries(lines))
      for (const line of ls) expect([line, ownerOf(line)]).toEqual([line, owner === 'nobody' ? undefined : owner]);
  });

  it('a scoped listing keeps the owners asked for and what nobody known owns, nothing of the labs beside', () => {
    const all = Object.values(lines).flat();
    expect(ownedBy(all, ['k9'])).toEqual([...lines.k9, ...lines.nobody]);
    expect(ownedBy(all, ['vtest', LIBVIRT_OWNER])).toEqual([...lines[LIBVIRT_OWNER], ...lines.vtest, ...lines.nobody]);
  });
});

describe('the footprint on a freshly booted machine', () => {
  // iproute2 mounts /run/netns at a boot's first `ip netns add` and keeps it: a machine where a lab ran first differs
  // from a fresh one by that mount alone, which is the machine's, not a leftover of the lab.
  const inMountNamespace = (setup: string): Shell => {
    const local = new LocalShell();
    return {
      ...local,
      exec: (command: string) =>
        local.exec(
          `unshare -m --propagation private sh -c ${shq(`umount -l /run/netns 2>/dev/null; ${setup} ${command}`)}`,
        ),
    } as Shell;
  };

  it('lists the same whether or not iproute2 has mounted /run/netns yet', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root: unshare -m and mount');
    const fresh = await footprint({ machine: inMountNamespace('') });
    const used = await footprint({
      machine: inMountNamespace('mkdir -p /run/netns && mount -t tmpfs netns /run/netns;'),
    });
    // (The namespaces themselves are hidden by the tmpfs: only the listing's other lines compare.)
    const notNetns = (lines: string[]) => lines.filter((l) => !l.startsWith('netns '));
    expect(notNetns(used)).toEqual(notNetns(fresh));
    expect(fresh.filter((l) => l.startsWith('link '))).toContain('link lo'); // it did list this machine
  });
});

describe('netns teardown against the machine', () => {
  // The teardown's own list is not the judge: a footprint of the machine, taken independently, is.
  it('leaves the machine as it was, as listed by the footprint before the network was built', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root: namespaces and links');
    const lab = validateLab({ name: 'fpunit', subnet: '10.251.0.0/24' });
    const net = new NetnsLab(new LocalShell(), lab);
    await net.teardown(); // left by a killed run
    const before = await footprint({ of: [lab.name] });
    await net.build();
    try {
      const during = await footprint({ of: [lab.name] });
      expect(during).toEqual(expect.arrayContaining(['link fpunit-br', 'netns fpunit-director', 'link fpunit-v1']));
    } finally {
      await net.teardown();
    }
    expect(await footprint({ of: [lab.name] })).toEqual(before);
  });
});
