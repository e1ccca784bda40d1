// model -> the lab's Vagrantfile. Pure, so it is pinned by tests and printed by `npm run lab -- vagrantfile`. One
// machine per host, named after it; the lab NIC (fixed MAC, on an isolated network with no DHCP and no host address)
// is renamed eth0 in the guest, so the seed's `ifconfig eth0:0` stays exact; the management NIC is separate, on an
// isolated network with DHCP only. The box boots its kernel directly (no bootloader), settings on its command line.
import { hostsOf, type Lab, type LabHost } from '../../model/topology.js';
import { ipToNumber, macFor, numberToIp } from '../../model/addressing.js';
import { KERNEL_ARGS } from '../../machine/qemu.js';
import { namespaceProxy } from './libvirt.js';
import { domainPrefix, labNetworkName, mgmtNetworkName, outsideNetworkName } from '../names.js';

export interface VagrantfileOptions {
  box: string;
  /** file:// URL of the box, so Vagrant never asks Vagrant Cloud for it. */
  boxUrl: string;
  /** Kernel and initrd where libvirt's qemu user can read them. */
  kernel: string;
  initrd: string;
  /** Base64 blob of the lab's ed25519 public key, and the private key's path. */
  publicKey: string;
  privateKeyPath: string;
  mgmtSubnet: string;
  /** The kit's libvirtd runs in this network namespace: SSH reaches the guests through it. */
  netns?: string;
  memoryMb?: number;
  cpus?: number;
  /** qemu (software emulation) unless this host has usable KVM. */
  driver: 'qemu' | 'kvm';
}

export { domainPrefix, labNetworkName, mgmtNetworkName, outsideNetworkName } from '../names.js';
/** The management NIC's MAC: the lab MAC's scheme with 02:01, so guest and host tell the NICs apart. */
export const mgmtMac = (ip: string): string => macFor(ip).replace(/^02:00:/, '02:01:');

/** XML text: the few characters that cannot stand as they are. */
const xml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/**
 * The management network, defined before `vagrant up`, which then takes it as it is (it looks networks up by
 * address): isolated (no <forward>), DHCP only, as vagrant-libvirt would make it, but with a fixed address per
 * machine's management MAC. dnsmasq checks each address it picks from the range by pinging it first, for 3 s, one
 * at a time, answering nothing meanwhile: four machines booting together waited up to 9 s for their leases
 * . It offers a fixed address at once. The range stays for machines added by hand.
 */
export function mgmtNetworkXml(lab: Lab, subnet: string): string {
  // The subnet's k-th address; machines at .10, .11, ... in host order.
  const at = (k: number) => numberToIp(ipToNumber(subnet.split('/')[0]) + k);
  return [
    "<network ipv6='yes'>",
    `  <name>${xml(mgmtNetworkName(lab))}</name>`,
    "  <bridge stp='on' delay='0'/>",
    `  <ip address='${at(1)}' netmask='255.255.255.0'>`,
    '    <dhcp>',
    `      <range start='${at(128)}' end='${at(254)}'/>`,
    ...hostsOf(lab).map((h, i) => `      <host mac='${mgmtMac(h.ip)}' name='${xml(h.name)}' ip='${at(10 + i)}'/>`),
    '    </dhcp>',
    '  </ip>',
    '</network>',
    '',
  ].join('\n');
}

/** Ruby double-quoted string: JSON's escapes, and no `#{` interpolation. */
const rb = (s: string): string => JSON.stringify(s).replace(/#/g, '\\#');

/** The lab NICs of a host: [network name, MAC, guest name, address]; NAT's client is on the outside network only. */
export function labNics(
  lab: Lab,
  host: LabHost,
): Array<{ network: string; mac: string; dev: string; ip: string; prefix: number }> {
  const nat = lab.forwarding === 'nat' && lab.outside ? lab.outside : undefined;
  if (nat && host.role === 'client')
    return [
      {
        network: outsideNetworkName(lab),
        mac: macFor(host.ip),
        dev: 'eth0',
        ip: host.ip,
        prefix: lab.outsidePrefixLength!,
      },
    ];
  const nics = [
    { network: labNetworkName(lab), mac: macFor(host.ip), dev: 'eth0', ip: host.ip, prefix: lab.prefixLength },
  ];
  if (nat && host.role === 'director')
    nics.push({
      network: outsideNetworkName(lab),
      mac: macFor(nat.directorIp),
      dev: 'eth1',
      ip: nat.directorIp,
      prefix: lab.outsidePrefixLength!,
    });
  return nics;
}

export function kernelCommandLine(lab: Lab, host: LabHost, publicKey: string): string {
  const nics = labNics(lab, host)
    .map((n) => `${n.mac}=${n.dev}`)
    .join(',');
  // Directors load IPVS while they boot; the other machines skip it (init.sh).
  const ipvs = host.role === 'director' ? ' lvslab.ipvs=1' : '';
  return `${KERNEL_ARGS} lvslab.host=${host.name} lvslab.nics=${nics}${ipvs} lvslab.key=${publicKey}`;
}

/** The settings every machine shares: the box, SSH as root with the lab's key. */
function configLines(lab: Lab, o: VagrantfileOptions): string[] {
  return [
    `# lvs-lab: lab "${lab.name}" (${lab.forwarding.toUpperCase()}, VIP ${lab.vip}), generated from the lab model; \`npm run lab -- vagrantfile\` prints it.`,
    '# Use it as any Vagrantfile: VAGRANT_CWD=<this directory> vagrant status | vagrant ssh director',
    '# Nothing here looks up Vagrant Cloud: the box comes from a local file.',
    'Vagrant.configure("2") do |config|',
    `  config.vm.box = ${rb(o.box)}`,
    `  config.vm.box_url = ${rb(o.boxUrl)}`,
    '  config.vm.box_check_update = false',
    '  config.vm.synced_folder ".", "/vagrant", disabled: true',
    "  # no synced folders: Vagrant writes nothing into the guest's /etc/fstab (it still clears its own entries there)",
    '  config.vm.allow_fstab_modification = false',
    '  config.vm.boot_timeout = 900',
    '  # named, so Vagrant skips probing every guest type over SSH (seconds each under emulation)',
    '  config.vm.guest = :debian',
    "  # root with the lab's own key (the box has no vagrant user and no insecure key)",
    '  config.ssh.username = "root"',
    `  config.ssh.private_key_path = ${rb(o.privateKeyPath)}`,
    '  config.ssh.insert_key = false',
    '  config.ssh.sudo_command = "%c"',
    "  # Vagrant's own commands (readiness checks, its /etc/fstab entries) run in sh, not bash -l: 0.09 s against 0.47 s",
    '  # of an emulated core each, and four machines are still busy booting beside them',
    '  config.ssh.shell = "sh"',
    ...(o.netns
      ? [
          "  # The kit's libvirtd, and so every guest network, lives in its own network namespace: SSH goes through it.",
          `  config.ssh.proxy_command = ${rb(namespaceProxy(o.netns).join(' '))}`,
        ]
      : []),
  ];
}

/** libvirt's settings for every machine: emulated CPU, no graphics or USB, the management network, direct boot. */
function providerLines(lab: Lab, o: VagrantfileOptions): string[] {
  return [
    '  config.vm.provider :libvirt do |lv|',
    `    lv.driver = ${rb(o.driver)}`,
    '    lv.cpu_mode = "custom"',
    '    lv.cpu_model = "qemu64"',
    `    lv.memory = ${o.memoryMb ?? 512}`,
    `    lv.cpus = ${o.cpus ?? 1}`,
    '    lv.graphics_type = "none"',
    '    lv.video_type = "none"',
    "    # no USB controller: probing it costs each guest ~1 s of its boot under emulation (the kernel's USB handoff quirk)",
    '    lv.usb_controller model: "none"',
    `    lv.default_prefix = ${rb(domainPrefix(lab))}`,
    '    # management: isolated (no NAT, no forwarding), DHCP only; the guest keeps no default route',
    `    lv.management_network_name = ${rb(mgmtNetworkName(lab))}`,
    `    lv.management_network_address = ${rb(o.mgmtSubnet)}`,
    '    lv.management_network_mode = "none"',
    "    # the box is the vm testbed's image: its kernel boots directly, settings on the command line",
    `    lv.kernel = ${rb(o.kernel)}`,
    `    lv.initrd = ${rb(o.initrd)}`,
    "    # a virtio RNG: the guest's sshd starts without waiting seconds for entropy under emulation",
    '    lv.random model: "random"',
    '  end',
  ];
}

/** One machine per host: its lab NICs (no DHCP, addressed by the kit) and its kernel command line. */
function machineLines(lab: Lab, host: LabHost, o: VagrantfileOptions): string[] {
  return [
    '',
    `  # ${host.role} ${host.ip}`,
    `  config.vm.define ${rb(host.name)} do |m|`,
    ...labNics(lab, host).map(
      (nic) =>
        `    m.vm.network :private_network, libvirt__network_name: ${rb(nic.network)}, libvirt__forward_mode: "veryisolated", ` +
        `libvirt__dhcp_enabled: false, auto_config: false, mac: ${rb(nic.mac)}  # ${nic.dev} ${nic.ip}/${nic.prefix}`,
    ),
    '    m.vm.provider :libvirt do |lv|',
    `      lv.management_network_mac = ${rb(mgmtMac(host.ip))}`,
    `      lv.cmd_line = ${rb(kernelCommandLine(lab, host, o.publicKey))}`,
    '    end',
    '  end',
  ];
}

export function vagrantfile(lab: Lab, o: VagrantfileOptions): string {
  return [
    ...configLines(lab, o),
    '',
    ...providerLines(lab, o),
    ...hostsOf(lab).flatMap((host) => machineLines(lab, host, o)),
    'end',
    '',
  ].join('\n');
}
