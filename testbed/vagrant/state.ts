// What a Vagrant lab records in its state, so `down`, `verify` and `exec` from another process find it again; read
// back through a schema, since root turns it into commands and paths.
import { z } from 'zod';
import { KEY_BLOB } from '../../machine/machine.js';
import { HOST_NAME_PATTERN } from '../../model/topology.js';

export const VAGRANT_STATE = z.strictObject({
  /** The Vagrant project directory: the generated Vagrantfile and Vagrant's own .vagrant/. */
  dir: z.string(),
  /** The box the machines run: lvs-lab/bookworm-<image hash>. */
  box: z.string().regex(/^lvs-lab\/bookworm-[0-9a-f]{8,64}$/),
  /** The management network: isolated, DHCP only; each machine's address on it, for SSH. */
  mgmt: z.strictObject({
    name: z.string(),
    subnet: z.cidrv4(),
    addresses: z.record(z.string().regex(HOST_NAME_PATTERN), z.ipv4()),
  }),
  /** The network namespace the kit's own libvirtd runs in; absent when the lab uses a libvirtd the kit did not start. */
  netns: z.literal('lvs-lab-libvirt').optional(),
  /** sshd's ed25519 host key blob (the box's), pinned by the SSH transport until a machine has its own. */
  hostKey: KEY_BLOB,
  /** Each machine's own host key, given at its first login (the box's is every machine's): pinned from then on. */
  hostKeys: z.record(z.string().regex(HOST_NAME_PATTERN), KEY_BLOB).optional(),
});
export type VagrantState = z.infer<typeof VAGRANT_STATE>;
