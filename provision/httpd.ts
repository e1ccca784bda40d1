// Where a realserver's httpd keeps its files. The seed says "install and start httpd serving `from <RIP>`";
// how that looks depends on whether the realserver has a filesystem of its own.
import { shq } from './shell.js';

export type HttpdLayout =
  /** A host of its own (container, VM, bare metal): Debian's stock apache2. */
  | { kind: 'system' }
  /** Realservers sharing one filesystem (network namespaces): one apache2 instance per host under `root/<host>`. */
  | { kind: 'instance'; root: string };

export interface HttpdFiles {
  docroot: string;
  accessLog: string;
  pidFile: string;
  /** The instance's own config file; undefined for the system layout. */
  config?: string;
}

export function httpdFiles(layout: HttpdLayout, host: string): HttpdFiles {
  if (layout.kind === 'system')
    return {
      docroot: '/var/www/html',
      accessLog: '/var/log/apache2/access.log',
      pidFile: '/var/run/apache2/apache2.pid',
    };
  const dir = `${layout.root}/${host}`;
  return {
    docroot: `${dir}/www`,
    accessLog: `${dir}/access.log`,
    pidFile: `${dir}/apache2.pid`,
    config: `${dir}/apache2.conf`,
  };
}

/** A minimal apache2 config for one instance: its own port binding, pid, logs and docroot; nothing else loaded. */
export function instanceConfig(files: HttpdFiles, serverName: string, port: number): string {
  const dir = files.pidFile.replace(/\/[^/]+$/, '');
  const mods = '/usr/lib/apache2/modules';
  return [
    `# lvs-lab: one apache2 per realserver; everything it writes stays in ${dir}`,
    `LoadModule mpm_event_module ${mods}/mod_mpm_event.so`,
    `LoadModule authz_core_module ${mods}/mod_authz_core.so`,
    `LoadModule dir_module ${mods}/mod_dir.so`,
    `ServerName ${serverName}`,
    `Listen ${port}`,
    `User www-data`,
    `Group www-data`,
    `DefaultRuntimeDir ${dir}`,
    `PidFile ${files.pidFile}`,
    `ErrorLog ${dir}/error.log`,
    // Debian's "combined" (with %b: logio is not loaded). %h first: the verifier reads the client address from the
    // first field, and the User-Agent last tells a health checker's requests from the client's.
    `LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined`,
    `CustomLog ${files.accessLog} combined`,
    // One worker process to start with (25 threads; more come under load) rather than three: a lab may run dozens.
    `StartServers 1`,
    `MinSpareThreads 25`,
    `MaxSpareThreads 75`,
    // Each request must be a fresh connection for the scheduler to see it; keep-alive would hide that.
    `KeepAlive Off`,
    `DocumentRoot ${files.docroot}`,
    `DirectoryIndex index.html`,
    `<Directory ${files.docroot}>`,
    `  Require all granted`,
    `</Directory>`,
  ].join('\n');
}

/**
 * Starts httpd. A host of its own starts Debian's apache2 with Debian's control script, where the seed has
 * `service httpd start`: `apache2ctl start` is what Debian's init script runs after a config test of its own (which
 * cost time per container), and under systemd it hands over to `systemctl start apache2` itself.
 * Namespaces sharing a filesystem start their own instance with its config.
 */
export function startCommand(layout: HttpdLayout, files: HttpdFiles): string {
  return layout.kind === 'system' ? 'apache2ctl start' : `apache2 -f ${shq(files.config!)} -k start`;
}
