// The vagrant testbed's pure parts: the Vagrantfile generated from the model (pinned for the reference lab and a
// NAT lab), the guest kernel command line, and the box metadata.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withPreset } from '../../../model/presets.js';
import { hostsOf, referenceLab } from '../../../model/topology.js';
import { boxMetadata } from '../../../testbed/vagrant/box.js';
import {
  kernelCommandLine,
  labNics,
  mgmtNetworkXml,
  vagrantfile,
  type VagrantfileOptions,
} from '../../../testbed/vagrant/vagrantfile.js';

const OPTIONS: VagrantfileOptions = {
  box: 'lvs-lab/bookworm-0123456789abcdef',
  boxUrl: 'file:///cache/boxes/bookworm-0123456789abcdef.box',
  kernel: '/var/lib/libvirt/boot/lvs-lab/bookworm-0123456789abcdef/vmlinux',
  initrd: '/var/lib/libvirt/boot/lvs-lab/bookworm-0123456789abcdef/initrd.img',
  publicKey: 'AAAAC3NzaC1lZDI1NTE5AAAAIKEY',
  privateKeyPath: '/state/labs/lvs/id_ed25519',
  mgmtSubnet: '10.249.0.0/24',
  netns: 'lvs-lab-libvirt',
  driver: 'qemu',
};

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('Vagrantfile', () => {
  it('reference lab: one machine per host, lab NIC by MAC on an isolated network, management isolated, direct kernel boot', () => {
    expect(vagrantfile(referenceLab(), OPTIONS)).toBe(fixture('Vagrantfile.reference'));
  });

  it('NAT lab: the client on the outside network only, the director on both (eth0 lab, eth1 outside)', () => {
    const nat = withPreset('nat-rr', {}, 'test');
    expect(vagrantfile(nat, { ...OPTIONS, memoryMb: 768, cpus: 2 })).toBe(fixture('Vagrantfile.nat'));
    const director = hostsOf(nat).find((h) => h.role === 'director')!;
    expect(labNics(nat, director).map((n) => `${n.dev}=${n.network}`)).toEqual([
      'eth0=lvs-lab-natrr',
      'eth1=lvs-lab-natrr-out',
    ]);
  });

  it("the guest's command line names the host, its lab NICs by MAC and the lab's key, nothing else of the host", () => {
    const lab = referenceLab();
    expect(kernelCommandLine(lab, hostsOf(lab)[1], 'KEY')).toBe(
      'console=ttyS0 quiet root=/dev/vda rw net.ifnames=0 panic=-1 acpi=noirq cryptomgr.notests init=/sbin/lvs-lab-init lvslab.host=director lvslab.nics=02:00:c0:a8:aa:65=eth0 lvslab.ipvs=1 lvslab.key=KEY',
    );
    // Only directors load IPVS while they boot.
    expect(kernelCommandLine(lab, hostsOf(lab)[2], 'KEY')).toBe(
      'console=ttyS0 quiet root=/dev/vda rw net.ifnames=0 panic=-1 acpi=noirq cryptomgr.notests init=/sbin/lvs-lab-init lvslab.host=rs1 lvslab.nics=02:00:c0:a8:aa:66=eth0 lvslab.key=KEY',
    );
  });

  it('the management network: isolated (no forward), DHCP with a fixed address per management MAC, on the subnet the Vagrantfile names', () => {
    expect(mgmtNetworkXml(referenceLab(), '10.249.3.0/24')).toBe(
      [
        "<network ipv6='yes'>",
        '  <name>lvs-lab-lvs-mgmt</name>',
        "  <bridge stp='on' delay='0'/>",
        "  <ip address='10.249.3.1' netmask='255.255.255.0'>",
        '    <dhcp>',
        "      <range start='10.249.3.128' end='10.249.3.254'/>",
        "      <host mac='02:01:c0:a8:aa:0a' name='client' ip='10.249.3.10'/>",
        "      <host mac='02:01:c0:a8:aa:65' name='director' ip='10.249.3.11'/>",
        "      <host mac='02:01:c0:a8:aa:66' name='rs1' ip='10.249.3.12'/>",
        "      <host mac='02:01:c0:a8:aa:67' name='rs2' ip='10.249.3.13'/>",
        '    </dhcp>',
        '  </ip>',
        '</network>',
        '',
      ].join('\n'),
    );
    // The Vagrantfile's management network is that one: same name, same subnet.
    const text = vagrantfile(referenceLab(), { ...OPTIONS, mgmtSubnet: '10.249.3.0/24' });
    expect(text).toContain('lv.management_network_name = "lvs-lab-lvs-mgmt"');
    expect(text).toContain('lv.management_network_address = "10.249.3.0/24"');
  });

  it("without the kit's namespace (a libvirtd the user runs) SSH goes straight to the guests", () => {
    const text = vagrantfile(referenceLab(), { ...OPTIONS, netns: undefined });
    expect(text).not.toContain('proxy_command');
    expect(text).toContain('lv.management_network_mode = "none"');
  });
});

describe('box', () => {
  it('is a libvirt qcow2 box with its virtual size in whole GB', () => {
    expect(boxMetadata(4)).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 4 });
  });
});
