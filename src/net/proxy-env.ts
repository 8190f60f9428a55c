/**
 * Go's proxy choice from the environment, as containerd makes it for every registry request: net/http
 * ProxyFromEnvironment -> golang.org/x/net/http/httpproxy (proxy.go: FromEnvironment, config.proxyForURL,
 * config.useProxy, matchers). The node's runtime gets HTTP_PROXY / HTTPS_PROXY / NO_PROXY from its service
 * environment (a systemd drop-in), never from a pod's.
 */
export interface ProxyEnv {
  HTTP_PROXY?: string;
  HTTPS_PROXY?: string;
  NO_PROXY?: string;
}

/** httpproxy.FromEnvironment: upper case first, then lower case (REQUEST_METHOD, the CGI guard, is not ours). */
export function proxyEnvFrom(env: Record<string, string | undefined>): ProxyEnv {
  const get = (name: string): string | undefined => env[name] || env[name.toLowerCase()] || undefined;
  const out: ProxyEnv = {};
  const http = get('HTTP_PROXY');
  const https = get('HTTPS_PROXY');
  const no = get('NO_PROXY');
  if (http) out.HTTP_PROXY = http;
  if (https) out.HTTPS_PROXY = https;
  if (no) out.NO_PROXY = no;
  return out;
}

/** The proxy URL for a request URL, or undefined to connect directly (config.proxyForURL). */
export function proxyForUrl(url: URL, env: ProxyEnv): URL | undefined {
  const raw = url.protocol === 'https:' ? env.HTTPS_PROXY : url.protocol === 'http:' ? env.HTTP_PROXY : undefined;
  if (!raw) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (!useProxy(url.hostname, port, env.NO_PROXY ?? '')) return undefined;
  // parseProxy: a proxy without a scheme is taken as http://.
  try {
    const proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
    return proxy.protocol === 'http:' || proxy.protocol === 'https:' || proxy.protocol === 'socks5:' ? proxy : undefined;
  } catch {
    return undefined;
  }
}

/**
 * config.useProxy: never for localhost or a loopback IP; NO_PROXY `*` bypasses everything; each entry is an
 * IP, a CIDR, or a domain with an optional port: `example.com` matches it and its subdomains, `.example.com`
 * and `*.example.com` only subdomains (the leading `*` is dropped to `.`), compared case-insensitively.
 */
export function useProxy(hostname: string, port: string, noProxy: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost') return false;
  const ip = parseIp(host);
  if (ip && isLoopback(ip)) return false;
  for (const raw of noProxy.split(',')) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return false;
    if (entry.includes('/')) {
      if (ip && inCidr(ip, entry)) return false;
      continue;
    }
    const entryIp = parseIp(entry.replace(/^\[(.*)\]$/, '$1'));
    if (entryIp) {
      if (ip && entryIp.join('.') === ip.join('.')) return false;
      continue;
    }
    let entryPort = '';
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m) {
      entry = m[1]!;
      entryPort = m[2]!;
    }
    if (entry.startsWith('*.')) entry = entry.slice(1);
    const matchHost = entry.startsWith('.') ? host.endsWith(entry) : host === entry || host.endsWith(`.${entry}`);
    if (matchHost && (entryPort === '' || entryPort === port)) return false;
  }
  return true;
}

// IPv4 only (the emulation's addresses); an IPv6 literal is compared as text by the domain rule.
function parseIp(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

function isLoopback(ip: number[]): boolean {
  return ip[0] === 127;
}

function inCidr(ip: number[], cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const net = parseIp(base ?? '');
  const bits = Number(bitsText);
  if (!net || !(bits >= 0 && bits <= 32)) return false;
  const n = (a: number[]): number => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (n(ip) & mask) === (n(net) & mask);
}
