// `npm run lab -- vagrantfile`: the running lab's Vagrantfile, or the one `up --testbed vagrant` would write (with
// the key and box it would use; the key itself is generated at `up`).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab } from '../../model/topology.js';
import { labStateDir } from '../../base/paths.js';
import { imageDir } from '../../machine/image.js';
import { vmKeyFile } from '../../machine/machine.js';
import { chooseAccel } from '../../machine/qemu.js';
import { boxFor } from './box.js';
import { LIBVIRT_NETNS } from './libvirt.js';
import type { VagrantState } from './state.js';
import { vagrantfile } from './vagrantfile.js';

export async function previewVagrantfile(lab: Lab, running?: VagrantState): Promise<string> {
  if (running) return readFile(join(running.dir, 'Vagrantfile'), 'utf8');
  const box = boxFor(await imageDir());
  return vagrantfile(lab, {
    box: box.name,
    boxUrl: `file://${box.file}`,
    kernel: box.kernel,
    initrd: box.initrd,
    publicKey: '<the lab key, generated at up>',
    privateKeyPath: vmKeyFile(labStateDir(lab.name)),
    mgmtSubnet: '10.249.0.0/24',
    netns: LIBVIRT_NETNS,
    driver: chooseAccel().name === 'kvm' ? 'kvm' : 'qemu',
    memoryMb: lab.vagrant?.memory,
    cpus: lab.vagrant?.cpus,
  });
}
