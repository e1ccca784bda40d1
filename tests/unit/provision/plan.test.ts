import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceLab, validateLab } from '../../../model/topology.js';
import { withPreset } from '../../../model/presets.js';
import { runSteps } from '../../../provision/apply.js';
import {
  formatPlan,
  heredocEnd,
  IPVS_PROC_TABLE,
  ipvsProcAddress,
  planLab,
  syncDaemonPattern,
  type Plan,
} from '../../../provision/plan.js';
import { LocalShell, shq } from '../../../provision/shell.js';
import { SEED_DIRECTOR } from '../seed.js';

const netnsLayout = { httpd: { kind: 'instance' as const, root: '/run/lvs-lab/lvs' } };
const commandsOf = (plan: Plan, host: string) => plan.hosts.find((h) => h.host.name === host)!.steps;
/** The seed's own commands: the steps that carry no "beyond the seed" reason. */
const seedCommands = (plan: Plan, host: string) =>
  commandsOf(plan, host)
    .filter((s) => !s.why)
    .map((s) => s.command);

describe('plan for the reference lab', () => {
  const plan = planLab(referenceLab(), netnsLayout);

  it("gives the director the seed's commands, verbatim and in order", () => {
    expect(seedCommands(plan, 'director')).toEqual(SEED_DIRECTOR);
  });

  it("gives each realserver the seed's ARP sysctls before the VIP, then its page and httpd", () => {
    for (const [name, rip] of [
      ['rs1', '192.168.170.102'],
      ['rs2', '192.168.170.103'],
    ]) {
      expect(seedCommands(plan, name)).toEqual([
        'echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore',
        'echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce',
        'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
        'echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce',
        'ifconfig lo:0 192.168.170.100 netmask 255.255.255.255',
        `echo 'from ${rip}' > /run/lvs-lab/lvs/${name}/www/index.html`,
        `apache2 -f /run/lvs-lab/lvs/${name}/apache2.conf -k start`,
      ]);
    }
  });

  it('marks what it adds beyond the seed, and says why', () => {
    const extras = commandsOf(plan, 'rs1').filter((s) => s.why);
    expect(extras.map((s) => s.command.split('\n')[0])).toEqual([
      'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter',
      'echo 0 > /proc/sys/net/ipv4/conf/eth0/rp_filter',
      "mkdir -p /run/lvs-lab/lvs/rs1/www && cat > /run/lvs-lab/lvs/rs1/apache2.conf <<'EOF'",
    ]);
    const text = formatPlan(plan);
    expect(text).toContain('# beyond the seed: rp_filter=0 as the kernel IPVS selftest sets it');
    expect(text.match(/# beyond the seed: rp_filter/g)).toHaveLength(2); // once per realserver, not per line
    expect(commandsOf(plan, 'client')).toEqual([]);
  });

  it('guards every step that changes something, so a re-apply can skip it', () => {
    for (const { steps } of plan.hosts) for (const s of steps) if (!s.show) expect(s.unless, s.command).toBeTruthy();
  });

  it('uses the stock apache2 on hosts with a filesystem of their own', () => {
    const system = planLab(referenceLab(), { httpd: { kind: 'system' } });
    expect(seedCommands(system, 'rs1').slice(-2)).toEqual([
      "echo 'from 192.168.170.102' > /var/www/html/index.html",
      'apache2ctl start',
    ]);
    expect(commandsOf(system, 'rs1').some((s) => s.command.includes('apache2.conf'))).toBe(false);
  });

  it('leaves out the ARP sysctls only for the negative control', () => {
    const neg = planLab(referenceLab(), { ...netnsLayout, arpSysctls: false });
    expect(commandsOf(neg, 'rs1').some((s) => s.command.includes('arp_'))).toBe(false);
    expect(seedCommands(neg, 'director')).toEqual(seedCommands(plan, 'director'));
  });
});

describe('plan for other labs', () => {
  it('carries scheduler, port, persistence, weights and prefix length into the commands', () => {
    const lab = validateLab({
      subnet: '10.1.0.0/16',
      vip: '10.1.0.100',
      director: { name: 'director', ip: '10.1.0.1' },
      client: { name: 'client', ip: '10.1.9.9' },
      service: { port: 8080, scheduler: 'wrr', persistence: 60 },
      realservers: [
        { name: 'a', ip: '10.1.0.11', weight: 3 },
        { name: 'b', ip: '10.1.0.12', weight: 1 },
      ],
    });
    const plan = planLab(lab, netnsLayout);
    expect(seedCommands(plan, 'director')).toEqual([
      'ifconfig eth0:0 10.1.0.100/16',
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'ipvsadm -A -t 10.1.0.100:8080 -s wrr -p 60',
      'ipvsadm -a -t 10.1.0.100:8080 -r 10.1.0.11 -g -w 3',
      'ipvsadm -a -t 10.1.0.100:8080 -r 10.1.0.12 -g',
      'ipvsadm -ln',
    ]);
    expect(commandsOf(plan, 'a').find((s) => s.command.includes('apache2.conf <<'))!.command).toContain(
      '\nListen 8080\n',
    );
  });
});

describe('plan for NAT and TUN', () => {
  const commands = (plan: Plan, host: string) =>
    plan.hosts.find((h) => h.host.name === host)!.steps.map((s) => s.command);
  const httpd = { kind: 'system' } as const;

  it('NAT: the VIP on the outside interface, -m with the port, realservers routed through the DIP and nothing else', () => {
    const plan = planLab(withPreset('nat-rr', {}, 't'), { httpd });
    expect(commands(plan, 'director')).toEqual([
      'ifconfig eth1:0 192.168.171.100/24',
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'ipvsadm -A -t 192.168.171.100:80 -s rr',
      'ipvsadm -a -t 192.168.171.100:80 -r 192.168.170.102:80 -m',
      'ipvsadm -a -t 192.168.171.100:80 -r 192.168.170.103:80 -m',
      'ipvsadm -ln',
    ]);
    expect(commands(plan, 'rs1')).toEqual([
      'route add default gw 192.168.170.101',
      "echo 'from 192.168.170.102' > /var/www/html/index.html",
      'apache2ctl start',
    ]);
  });

  it('TUN: -i, and the VIP on tunl0 with ARP and rp_filter handled', () => {
    const plan = planLab(withPreset('tun-rr', {}, 't'), { httpd });
    expect(commands(plan, 'director')).toContain('ipvsadm -a -t 192.168.170.100:80 -r 192.168.170.102 -i');
    expect(commands(plan, 'rs1')).toEqual([
      'modprobe ipip',
      'echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore',
      'echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce',
      'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
      'echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce',
      'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter',
      'echo 0 > /proc/sys/net/ipv4/conf/tunl0/rp_filter',
      'ifconfig tunl0 192.168.170.100 netmask 255.255.255.255 up',
      "echo 'from 192.168.170.102' > /var/www/html/index.html",
      'apache2ctl start',
    ]);
  });
});

describe('plan with keepalived health checks', () => {
  const lab = withPreset(
    'dr-health',
    { service: { persistence: 60 }, realservers: [{ weight: 3 }, { weight: 1 }] },
    't',
  );
  const plan = planLab(lab, netnsLayout);
  const director = commandsOf(plan, 'director');

  it('keeps the VIP and ip_forward of the seed, and lets keepalived make the table instead of ipvsadm -A/-a', () => {
    expect(director.filter((s) => !s.why).map((s) => s.command)).toEqual([
      'ifconfig eth0:0 192.168.170.100/24',
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'ipvsadm -ln',
    ]);
    expect(director.some((s) => /ipvsadm -[AaEe] /.test(s.command))).toBe(false);
  });

  it("writes a keepalived.conf with the service's scheduler, persistence, forwarding, weights and checks", () => {
    const config = director.find((s) => s.command.includes('keepalived.conf <<'))!.command;
    expect(config).toContain('/run/lvs-lab/lvs/director/keepalived.conf');
    const lines = config.split('\n').map((l) => l.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        'virtual_server 192.168.170.100 80 {',
        'delay_loop 1',
        'lb_algo rr',
        'lb_kind DR',
        'persistence_timeout 60',
        'connect_timeout 1',
        'retry 1',
      ]),
    );
    expect(config.match(/real_server 192\.168\.170\.10[23] 80 \{\n {4}weight (\d)/g)).toEqual([
      'real_server 192.168.170.102 80 {\n    weight 3',
      'real_server 192.168.170.103 80 {\n    weight 1',
    ]);
    expect(config.match(/path \/\n\s+status_code 200/g)).toHaveLength(2);
    expect(
      planLab(withPreset('nat-rr', { healthCheck: {} }, 't'), netnsLayout)
        .hosts[1].steps.map((s) => s.command)
        .join('\n'),
    ).toContain('lb_kind NAT');
  });

  it('starts keepalived once, reloads it with SIGHUP when its config changed, and waits for the table', () => {
    const start = director.find((s) => s.command.startsWith('keepalived '))!;
    expect(start.command).toBe(
      'keepalived --check --use-file /run/lvs-lab/lvs/director/keepalived.conf --pid /run/lvs-lab/lvs/director/keepalived.pid ' +
        '--checkers_pid /run/lvs-lab/lvs/director/keepalived_checkers.pid && cp /run/lvs-lab/lvs/director/keepalived.conf /run/lvs-lab/lvs/director/keepalived.conf.loaded',
    );
    expect(start.unless).toContain(
      'cmp -s /run/lvs-lab/lvs/director/keepalived.conf /run/lvs-lab/lvs/director/keepalived.conf.loaded',
    );
    expect(start.edit!.command).toMatch(/^kill -HUP "\$\(cat \/run\/lvs-lab\/lvs\/director\/keepalived\.pid\)" && cp /);
    const wait = director[director.indexOf(start) + 1];
    // Until the service and every realserver with its weight are listed: keepalived adds each on a passing check.
    expect(wait.command).toMatch(
      /^timeout 12 sh -c 'until svc=; .* < \/proc\/net\/ip_vs; ipvsadm -Ln -t 192\.168\.170\.100:80 .*rr \+persistent \+60 .*\|C0A8AA66:0050 Route 3\|.*\|C0A8AA67:0050 Route 1\|/,
    );
    expect(wait.unless).toBe(wait.command.match(/^timeout 12 sh -c 'until (.*); do sleep/)![1].replace(/'\\''/g, "'"));
    // ...because it starts with none (alpha): a realserver gets traffic only once its httpd has answered.
    expect(director.find((s) => s.command.includes('keepalived.conf <<'))!.command).toContain('\n  alpha\n');
  });

  it("uses Debian's keepalived paths on hosts with a filesystem of their own, and leaves realservers as without checks", () => {
    const system = planLab(lab, { httpd: { kind: 'system' } });
    expect(system.hosts[1].steps.map((s) => s.command).join('\n')).toContain(
      'cat > /etc/keepalived/keepalived.conf <<',
    );
    const plain = planLab(withPreset('dr-wrr', { service: { persistence: 60 } }, 't'), { httpd: { kind: 'system' } });
    expect(system.hosts.slice(2)).toEqual(plain.hosts.slice(2));
  });

  it('says so in the plan header', () => {
    expect(formatPlan(plan).split('\n')[0]).toMatch(/, keepalived health checks every 1 s$/);
  });
});

describe("the plan's checks against a real IPVS table", () => {
  // The director holds the rr service with both realservers at weight 1, as the kernel lists it in /proc/net/ip_vs
  // (which the checks read) and as `ipvsadm -Ln` prints it (which a persistent service's check reads). Only the
  // ipvsadm steps run here, through a real sh, reading a copy of that table, with ipvsadm a stand-in that lists the
  // table and logs the rest.
  const proc = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
    'TCP  C0A8AA64:0050 rr ',
    '  -> C0A8AA67:0050      Route   1      0          0         ',
    '  -> C0A8AA66:0050      Route   1      0          0         ',
  ];
  const table = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  192.168.170.100:80 rr',
    '  -> 192.168.170.102:80           Route   1      0          0         ',
    '  -> 192.168.170.103:80           Route   1      0          0         ',
  ];
  const ipvsadmSteps = (plan: Plan) => commandsOf(plan, 'director').filter((s) => s.command.startsWith('ipvsadm -'));
  // A stand-in ipvsadm first on PATH (each step runs in a shell of its own, under timeout).
  const stub = `#!/bin/sh\ncase "$1" in -Ln) printf '%s\\n' ${table.map(shq).join(' ')};; *) echo "ipvsadm $*" >&3;; esac\n`;
  async function ran(plan: Plan): Promise<string[]> {
    const shell = new LocalShell();
    const bin = mkdtempSync(join(tmpdir(), 'ipvsadm-'));
    writeFileSync(join(bin, 'ipvsadm'), stub, { mode: 0o755 });
    writeFileSync(join(bin, 'ip_vs'), `${proc.join('\n')}\n`);
    const out = await runSteps('director', ipvsadmSteps(plan), (script) =>
      shell.exec(`exec 3>&1; PATH=${bin}:$PATH\n${script.replaceAll(IPVS_PROC_TABLE, join(bin, 'ip_vs'))}`),
    );
    return out.filter((o) => o.result === 'ran').map((o) => o.command);
  }

  it("reads addresses and ports in the kernel's hex", () => {
    expect(ipvsProcAddress('192.168.170.100', 80)).toBe('C0A8AA64:0050');
    expect(ipvsProcAddress('10.0.0.7', 8080)).toBe('0A000007:1F90');
  });

  it('the same lab again: every step is in place', async () => {
    expect(await ran(planLab(referenceLab(), netnsLayout))).toEqual([]);
  });

  it('a new scheduler is ipvsadm -E, a new weight ipvsadm -e, and nothing is added twice', async () => {
    const wrr = planLab(withPreset('dr-wrr', { name: 'lvs' }, 't'), netnsLayout);
    expect(await ran(wrr)).toEqual([
      'ipvsadm -E -t 192.168.170.100:80 -s wrr',
      'ipvsadm -e -t 192.168.170.100:80 -r 192.168.170.102 -g -w 3',
    ]);
  });

  it('persistence added is ipvsadm -E with -p; a third realserver is ipvsadm -a', async () => {
    const grown = planLab(validateLab({ service: { persistence: 60 }, realservers: 3 }), netnsLayout);
    expect(await ran(grown)).toEqual([
      'ipvsadm -E -t 192.168.170.100:80 -s rr -p 60',
      'ipvsadm -a -t 192.168.170.100:80 -r 192.168.170.104 -g',
    ]);
  });
});

describe('plan for a director pair (dr-ha)', () => {
  const lab = withPreset('dr-ha', {}, 't');
  const plan = planLab(lab, netnsLayout);
  const [primary, backup] = [commandsOf(plan, 'director'), commandsOf(plan, 'director2')];
  const config = (steps: typeof primary) => steps.find((s) => s.command.includes('keepalived.conf <<'))!.command;

  it('puts the backup director beside the director, realservers unchanged (the VIP on lo:0, the ARP sysctls)', () => {
    expect(plan.hosts.map((h) => `${h.host.name} ${h.host.role} ${h.host.ip}`)).toEqual([
      'client client 192.168.170.10',
      'director director 192.168.170.101',
      'director2 director 192.168.170.104',
      'rs1 realserver 192.168.170.102',
      'rs2 realserver 192.168.170.103',
    ]);
    const single = planLab(withPreset('dr-rr', { name: lab.name }, 't'), netnsLayout);
    expect(plan.hosts.slice(3)).toEqual(single.hosts.slice(2));
  });

  it("lets VRRP move the VIP instead of the seed's ifconfig, and says so", () => {
    for (const steps of [primary, backup]) {
      expect(steps.some((s) => s.command.startsWith('ifconfig'))).toBe(false);
      expect(steps.filter((s) => !s.why).map((s) => s.command)).toEqual([
        'echo 1 > /proc/sys/net/ipv4/ip_forward',
        'ipvsadm -ln',
      ]);
    }
    expect(formatPlan(plan)).toContain(
      "# beyond the seed: a director pair: keepalived's VRRP moves the VIP (the seed's ifconfig eth0:0 192.168.170.100/24, added by the MASTER only)",
    );
    expect(formatPlan(plan).split('\n')[0]).toMatch(
      /, director pair director\/director2 \(VRRP id \d+, adverts every 1 s, connection sync\)$/,
    );
  });

  it('gives each director a VRRP instance: one router id, MASTER 150 / BACKUP 100, the VIP as eth0:0', () => {
    const id = lab.ha!.virtualRouterId;
    for (const [steps, state, priority] of [
      [primary, 'MASTER', 150],
      [backup, 'BACKUP', 100],
    ] as const) {
      const lines = config(steps)
        .split('\n')
        .map((l) => l.trim());
      expect(lines).toEqual(
        expect.arrayContaining([
          `vrrp_instance ${lab.name} {`,
          `state ${state}`,
          'interface eth0',
          `virtual_router_id ${id}`,
          `priority ${priority}`,
          'advert_int 1',
          '192.168.170.100/24 dev eth0 label eth0:0',
        ]),
      );
      expect(lines).not.toContain('nopreempt');
      // The table in keepalived's words on both, with no checker and no alpha (realservers are in from the start).
      expect(lines).toEqual(
        expect.arrayContaining([
          'virtual_server 192.168.170.100 80 {',
          'lb_algo rr',
          'lb_kind DR',
          'real_server 192.168.170.102 80 {',
        ]),
      );
      expect(lines).not.toContain('alpha');
      expect(lines.some((l) => l.startsWith('HTTP_GET'))).toBe(false);
    }
  });

  it('with nopreempt, both start as BACKUP (keepalived ignores nopreempt on an initial MASTER) and nobody waits for the VIP', () => {
    const np = planLab(withPreset('dr-ha', { ha: { preempt: false } }, 't'), netnsLayout);
    for (const name of ['director', 'director2']) {
      const lines = config(commandsOf(np, name))
        .split('\n')
        .map((l) => l.trim());
      expect(lines).toEqual(expect.arrayContaining(['state BACKUP', 'nopreempt']));
      expect(commandsOf(np, name).some((s) => s.command.includes('VRRP has not made'))).toBe(false);
    }
  });

  it('starts full keepalived (VRRP too) and both sync daemons on each director, guarded by what ipvsadm reports', () => {
    for (const [name, steps] of [
      ['director', primary],
      ['director2', backup],
    ] as const) {
      const start = steps.find((s) => s.command.startsWith('keepalived '))!.command;
      expect(start).not.toMatch(/ --check /);
      expect(start).toContain(`--vrrp_pid /run/lvs-lab/lvs/${name}/keepalived_vrrp.pid`);
      const sync = steps.filter((s) => s.command.startsWith('ipvsadm --start-daemon'));
      expect(sync.map((s) => s.command)).toEqual([
        `ipvsadm --start-daemon master --mcast-interface eth0 --syncid ${lab.ha!.virtualRouterId}`,
        `ipvsadm --start-daemon backup --mcast-interface eth0 --syncid ${lab.ha!.virtualRouterId}`,
      ]);
      expect(sync[0].unless).toBe(
        `ipvsadm -L --daemon | grep -qE '^master sync daemon \\(mcast=eth0, syncid=${lab.ha!.virtualRouterId}[,)]'`,
      );
      // ipvsadm 1.31 prints more after the sync id; older ones close the parenthesis right after it.
      for (const line of [
        `master sync daemon (mcast=eth0, syncid=${lab.ha!.virtualRouterId}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`,
        `master sync daemon (mcast=eth0, syncid=${lab.ha!.virtualRouterId})`,
      ])
        expect(new RegExp(syncDaemonPattern('master', lab.ha!.virtualRouterId)).test(line)).toBe(true);
      expect(
        new RegExp(syncDaemonPattern('master', lab.ha!.virtualRouterId)).test(
          `master sync daemon (mcast=eth0, syncid=${lab.ha!.virtualRouterId}1)`,
        ),
      ).toBe(false);
    }
    // The director waits for VRRP to make it MASTER; the backup does not.
    expect(primary.some((s) => s.command.includes('VRRP has not made director MASTER'))).toBe(true);
    expect(backup.some((s) => s.command.includes('VRRP has not made'))).toBe(false);
    const nosync = planLab(withPreset('dr-ha', { ha: { sync: false } }, 't'), netnsLayout);
    expect(commandsOf(nosync, 'director').some((s) => s.command.includes('--start-daemon'))).toBe(false);
  });
});

describe("the check of a file the plan writes (read with the shell's own read)", () => {
  const step = commandsOf(planLab(referenceLab(), netnsLayout), 'rs1').find((s) => s.command.includes('<<'))!;
  const content = step.command.split("<<'EOF'\n")[1].replace(/\nEOF$/, '');
  const path = step.command.match(/cat > (\S+) <</)![1];
  const inPlace = async (text?: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'filestep-'));
    if (text !== undefined) writeFileSync(join(dir, 'f'), text);
    return (await new LocalShell().exec(step.unless!.replaceAll(path, join(dir, 'f')))).code === 0;
  };

  it('is in place only for exactly what the step writes', async () => {
    expect(content.split('\n').length).toBeGreaterThan(10);
    expect(await inPlace(`${content}\n`)).toBe(true);
    expect(await inPlace(content)).toBe(false); // the last line's newline missing
    expect(await inPlace(`${content}\n\n`)).toBe(false);
    expect(await inPlace(`${content.replace('StartServers 1', 'StartServers 2')}\n`)).toBe(false);
    expect(await inPlace(` ${content}\n`)).toBe(false);
    expect(await inPlace()).toBe(false);
  });
});

describe('here-documents', () => {
  it("end on a word no line of the file is, so a file's text never ends one early", () => {
    expect(heredocEnd('a\nb')).toBe('EOF');
    expect(heredocEnd('a\nEOF\nid')).toBe('EOF1');
    expect(heredocEnd('EOF\nEOF1\nEOF2')).toBe('EOF3');
  });
});
