import { describe, expect, it } from 'vitest';
import { withHostTree } from '../../src/node/containerd/daemon.js';
import { parseHostsToml } from '../../src/oci/hosts.js';

describe('hosts.toml as written for a real containerd', () => {
  it('gets an empty [host] table when it has only root fields (containerd#10027)', () => {
    const out = withHostTree('server = "http://127.0.0.1:5000"\n');
    expect(out).toBe('server = "http://127.0.0.1:5000"\n\n[host]\n');
    // still the same single endpoint for our parser
    expect(parseHostsToml(out, '127.0.0.1:5000').map((h) => h.url)).toEqual(['http://127.0.0.1:5000/v2']);
  });

  it('is left alone when it already has host entries', () => {
    const text = 'server = "http://a:1"\n[host."http://m:2"]\n  capabilities = ["pull"]\n';
    expect(withHostTree(text)).toBe(text);
  });
});
