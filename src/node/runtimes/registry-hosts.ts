// Where the embedded runtime's pull sends its requests: the hosts.toml host list per registry (as a real
// containerd's certs.d), tried with containerd's mirror fallback, and one set of registry clients per pull phase.
import { RegistryClient } from '../../oci/client.js';
import { hostDirectoryPaths, parseHostsToml, type HostCapability, type RegistryHost } from '../../oci/hosts.js';
import { isProxy, withMirrors } from '../../oci/mirror-fetch.js';
import { HttpPool, type HttpTransport } from '../../net/http-pool.js';
import type { ProxyEnv } from '../../net/proxy-env.js';
import type { ShapedRoutes } from '../../net/shaped-socket.js';
import type { ImageReference } from '../../oci/reference.js';
import type { PullAuth } from '../runtime.js';
import type { LayerThread } from './layer-thread.js';

/** Runs `fn` against the phase's hosts that have `capability`, falling back from mirror to mirror as containerd does. */
export type Via = <T>(capability: HostCapability, fn: (c: RegistryClient) => Promise<T>) => Promise<T>;

/**
 * hosts.toml text by certs.d directory name, as a real containerd's config_path holds them (the containerd runtime
 * writes the same record to its certs.d): a registry's file is found as containerd finds it, and parsed once per
 * registry; a registry without one is reached directly.
 */
export class RegistryHosts {
  private readonly parsed = new Map<string, RegistryHost[]>();

  constructor(private readonly hostsToml: Record<string, string> = {}) {
    // Every file is checked at once, so a broken one fails the runtime's start, not a later pull.
    for (const [dir, text] of Object.entries(hostsToml)) parseHostsToml(text, hostOfDirectory(dir), `${dir}/hosts.toml`);
  }

  for(domain: string): RegistryHost[] {
    let hosts = this.parsed.get(domain);
    if (!hosts) {
      const dir = hostDirectoryPaths(domain).find((d) => this.hostsToml[d] !== undefined);
      // The file's `server` defaults to the registry asked for, also when the file is _default's.
      hosts = parseHostsToml(dir === undefined ? '' : this.hostsToml[dir]!, domain, dir === undefined ? undefined : `${dir}/hosts.toml`);
      this.parsed.set(domain, hosts);
    }
    return hosts;
  }
}

// A registry host a certs.d directory can stand for, to check its file before any pull names one.
function hostOfDirectory(dir: string): string {
  if (dir === '_default') return 'default.invalid';
  const port = /^(.+)_(\d+)_$/.exec(dir);
  return port ? `${port[1]}:${port[2]}` : dir;
}

export interface PhaseOptions {
  ref: ImageReference;
  hosts: RegistryHost[];
  auth?: PullAuth;
  /** An injected transport, used for every host; else each phase opens keep-alive pools of its own. */
  injected?: HttpTransport;
  routes?: ShapedRoutes;
  /** The node's proxy environment (containerd's HTTP_PROXY / NO_PROXY). */
  proxy?: ProxyEnv;
  /** The disk store's layer threads, whose own connections carry the blobs. */
  layers?: LayerThread;
  /** Where the phase's pools go, to be closed after the pull. */
  pools: { close(): Promise<void> }[];
  /** Wraps each transport (the runtime counts requests). */
  counted: (t: HttpTransport) => HttpTransport;
  retryServerErrorsOnLastHost: boolean;
}

/**
 * One pull phase's way to the registry. containerd's CRI builds registry hosts (and so a fresh authorizer and a
 * fresh http.Transport) once for Resolve and once for the Fetcher: the registry sees one token, and one connection,
 * for the resolve, and others for the content fetches. Call it once per phase.
 */
export function pullPhase(o: PhaseOptions): Via {
  const clients = new Map<string, RegistryClient>();
  const transports = new Map<boolean, HttpTransport>();
  const transportFor = (skipVerify: boolean): HttpTransport => {
    let t = transports.get(skipVerify);
    if (!t) {
      if (o.injected) t = o.injected;
      else {
        const pool = new HttpPool({ insecureSkipVerify: skipVerify, ...(o.routes ? { connect: o.routes.connect } : {}), ...(o.proxy ? { proxy: o.proxy } : {}) });
        // Layer blobs go through the layer thread's own connections, unless this thread shapes the links or a proxy is set.
        const transport = o.layers && !o.routes && !o.proxy && !skipVerify ? o.layers.transport(pool) : pool;
        o.pools.push(transport);
        t = transport;
      }
      t = o.counted(t);
      transports.set(skipVerify, t);
    }
    return t;
  };
  const client = (host: RegistryHost): RegistryClient => {
    let c = clients.get(host.url);
    if (!c) {
      const url = new URL(host.url);
      c = new RegistryClient({
        baseUrl: url.origin,
        apiPath: url.pathname,
        transport: transportFor(host.skipVerify === true),
        userAgent: 'containerd/pullbench-embedded',
        ...(isProxy(host.url, o.ref.domain) ? { namespace: o.ref.domain } : {}),
        ...(host.headers ? { headers: host.headers } : {}),
        ...(o.auth ? { credentials: o.auth } : {}),
      });
      clients.set(host.url, c);
    }
    return c;
  };
  const retry = { retryServerErrorsOnLastHost: o.retryServerErrorsOnLastHost };
  return (capability, fn) => withMirrors(o.hosts, capability, (h) => fn(client(h)), retry);
}
