import { stringify as toYaml } from 'yaml';
import { PullbenchError } from '../../errors.js';

/**
 * How nodes reach one registry: the host pods name in their image references,
 * the endpoint that serves it, and mirrors tried first. URLs are as the nodes
 * see them (e.g. `http://pullbench-registry:5000` on kind's network).
 */
export interface RegistryRoute {
  /** `registry.pullbench.test:5000`, `docker.io`, ... */
  host: string;
  endpoint: string;
  mirrors?: string[];
  /** Credentials the runtime itself uses (k3s `configs`); pull secrets are separate. */
  credentials?: { username: string; password: string };
}

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;

function check(route: RegistryRoute): void {
  if (!HOST.test(route.host)) throw new PullbenchError('INVALID_ARGUMENT', `registry host ${JSON.stringify(route.host)} is not host[:port]`);
  for (const url of [route.endpoint, ...(route.mirrors ?? [])]) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new PullbenchError('INVALID_ARGUMENT', `registry endpoint ${JSON.stringify(url)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new PullbenchError('INVALID_ARGUMENT', `registry endpoint ${JSON.stringify(url)} must be http or https`);
    }
  }
}

const q = (s: string): string => JSON.stringify(s);

/**
 * containerd's `certs.d/<host>/hosts.toml`: mirrors as `[host."..."]`
 * entries tried in order, then `server` (the registry itself). Without a
 * mirror the registry gets a `[host."..."]` entry of its own, as in kind's
 * local-registry guide: containerd 1.6/1.7 (kindest/node v1.31 ships 1.7.18)
 * reject a hosts.toml without any host table ("invalid `host` tree",
 * containerd/containerd#10027) and fall back to https://<host>.
 */
export function hostsToml(route: RegistryRoute): string {
  check(route);
  const lines = [`server = ${q(route.endpoint)}`, ''];
  const hosts = route.mirrors?.length ? route.mirrors : [route.endpoint];
  for (const h of hosts) {
    lines.push(`[host.${q(h)}]`, '  capabilities = ["pull", "resolve"]', '');
  }
  return lines.join('\n');
}

/** The certs.d directory name containerd looks up for a host (`host:port` as is; `_default` is not used here). */
export function certsDirName(host: string): string {
  if (!HOST.test(host)) throw new PullbenchError('INVALID_ARGUMENT', `registry host ${JSON.stringify(host)} is not host[:port]`);
  return host;
}

/**
 * k3s `/etc/rancher/k3s/registries.yaml`: per registry host the endpoints in
 * order (mirrors first, the registry last), and auth per endpoint host.
 */
export function registriesYaml(routes: RegistryRoute[]): string {
  const mirrors: Record<string, { endpoint: string[] }> = {};
  const configs: Record<string, { auth: { username: string; password: string } }> = {};
  for (const r of routes) {
    check(r);
    mirrors[r.host] = { endpoint: [...(r.mirrors ?? []), r.endpoint] };
    if (r.credentials) configs[new URL(r.endpoint).host] = { auth: { ...r.credentials } };
  }
  return toYaml(Object.keys(configs).length > 0 ? { mirrors, configs } : { mirrors });
}
