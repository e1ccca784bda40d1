// `lab view`'s --bind and --port, checked before anything runs.
import { describe, expect, it } from 'vitest';
import { loopbackHost, viewPort } from '../../../cli/commands/view.js';
import { UserError } from '../../../model/errors.js';

describe('where the view serves', () => {
  it('a loopback address only; 127.0.0.1 by default', () => {
    expect(loopbackHost(undefined)).toBe('127.0.0.1');
    expect(loopbackHost('localhost')).toBe('127.0.0.1');
    expect(loopbackHost('127.0.0.2')).toBe('127.0.0.2');
    expect(loopbackHost('::1')).toBe('::1');
    for (const bad of ['0.0.0.0', '192.168.170.10', '::', 'example.org', '127.0.0.1; rm -rf /'])
      expect(() => loopbackHost(bad)).toThrow(UserError);
    expect(() => loopbackHost('0.0.0.0')).toThrow(/--bind: "0\.0\.0\.0" is not a loopback address/);
  });

  it('a port number, or 0 and none for a free one', () => {
    expect(viewPort(undefined)).toBe(0);
    expect(viewPort('8080')).toBe(8080);
    for (const bad of ['65536', '-1', '80a', '', '1e3']) expect(() => viewPort(bad)).toThrow(/--port: /);
  });
});
