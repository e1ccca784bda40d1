// What a Vagrant lab records in its state, so `down`, `verify` and `exec` from another process find it again.
export interface VagrantState {
  /** The Vagrant project directory: the generated Vagrantfile and Vagrant's own .vagrant/. */
  dir: string;
  /** The box the machines run: lvs-lab/bookworm-<image hash>. */
  box: string;
  /** The management network: isolated, DHCP only; each machine's address on it, for SSH. */
  mgmt: { name: string; subnet: string; addresses: Record<string, string> };
  /** The network namespace the kit's own libvirtd runs in; absent when the lab uses a libvirtd the kit did not start. */
  netns?: string;
  /** sshd's ed25519 host key blob (the box's), pinned by the SSH transport until a machine has its own. */
  hostKey: string;
  /** Each machine's own host key, given at its first login (the box's is every machine's): pinned from then on. */
  hostKeys?: Record<string, string>;
}
