import { describe, expect, it } from 'vitest';
import { moduleLoadOrder } from '../../../machine/image.js';

// An excerpt of bookworm's modules.dep (6.1): what the initramfs loads, with the decoys around it.
const MODULES_DEP = `kernel/fs/mbcache.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_balloon.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
`;
const name = (p: string) => p.split('/').pop()!.replace('.ko', '');

describe('the initramfs module list', () => {
  it('loads every dependency before the module that needs it, each once, and nothing unasked', () => {
    const order = moduleLoadOrder(MODULES_DEP, [
      'virtio_pci',
      'virtio_blk',
      'virtio_net',
      'virtio-rng',
      'crc32c_generic',
      'ext4',
    ]).map(name);
    expect(new Set(order).size).toBe(order.length);
    expect(order).not.toContain('virtio_balloon');
    for (const line of MODULES_DEP.trim().split('\n')) {
      const [mod, deps] = line.split(':');
      if (!order.includes(name(mod))) continue;
      for (const d of deps.trim().split(/\s+/).filter(Boolean))
        expect(order.indexOf(name(d))).toBeLessThan(order.indexOf(name(mod)));
    }
    expect(order).toHaveLength(15);
  });

  it('refuses a module the kernel does not ship as a module', () => {
    expect(() => moduleLoadOrder(MODULES_DEP, ['virtio_scsi'])).toThrow(/virtio_scsi is not in modules.dep/);
  });
});
