import type { Clock } from '../core/clock.js';
import { startShapedProxy, type StartedProxy } from './proxy.js';
import { Link, type LinkSpec, type SharedUplink } from './shaper.js';

/** A fetch whose plain-http traffic crosses a shaped link; dispose it to close its proxies. */
export type ShapedFetch = typeof fetch & AsyncDisposable & { close(): Promise<void>; readonly link: Link };

/**
 * The in-process variant of a shaped link: each origin a request goes to gets a
 * shaped proxy (started on first use, all sharing one Link), and the request is
 * sent to that proxy instead. Only `http:` URLs are shaped (the proxy forwards TCP,
 * so TLS would need the real host name); others go straight through.
 */
export function shapedFetch(link: LinkSpec | Link, uplink?: SharedUplink, opts: { clock?: Clock; fetch?: typeof fetch } = {}): ShapedFetch {
  const shared = link instanceof Link ? link : new Link(link, { uplink, clock: opts.clock });
  const inner = opts.fetch ?? globalThis.fetch;
  const proxies = new Map<string, Promise<StartedProxy>>();
  const proxyFor = (host: string): Promise<StartedProxy> => {
    let p = proxies.get(host);
    if (p === undefined) {
      p = startShapedProxy({ target: host, link: shared });
      proxies.set(host, p);
    }
    return p;
  };
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'http:') return inner(request);
    const port = url.port === '' ? '80' : url.port;
    const proxy = await proxyFor(`${url.hostname}:${port}`);
    url.host = proxy.host;
    return inner(new Request(url, request));
  };
  const close = async (): Promise<void> => {
    const all = [...proxies.values()];
    proxies.clear();
    await Promise.all(all.map(async (p) => (await p).close()));
  };
  return Object.assign(fn as typeof fetch, { close, link: shared, [Symbol.asyncDispose]: close });
}
