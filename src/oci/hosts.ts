import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PullbenchError } from '../errors.js';
import { parse as parseToml, TomlError, type TomlPrimitive, type TomlTable } from 'smol-toml';

/**
 * containerd's registry host configuration (docs/hosts.md; core/remotes/docker/config/hosts.go):
 * `<config_path>/<host[:port]>/hosts.toml`, falling back to `<config_path>/_default/hosts.toml`.
 * The `[host."url"]` entries come first in file order, then the `server`.
 */
export type HostCapability = 'pull' | 'resolve' | 'push';

export interface RegistryHost {
  /** Base URL the API paths are appended to, including the API path: `https://mirror.example.com/v2`. */
  url: string;
  capabilities: HostCapability[];
  skipVerify?: boolean;
  headers?: Record<string, string>;
  /** `ca` file paths as written (relative to the host directory). */
  ca?: string[];
  /** True for `[host]` entries, false for the `server`. */
  isMirror: boolean;
}

const ALL_CAPABILITIES: HostCapability[] = ['pull', 'resolve', 'push'];
/** docker.io's API endpoint, which containerd uses as its default server. */
const DOCKER_HUB_SERVER = 'https://registry-1.docker.io';

type TomlValue = TomlPrimitive | TomlTable;

function fail(source: string, why: string): never {
  throw new PullbenchError('INVALID_HOSTS_TOML', `${source}: ${why}`, { details: { source, reason: why } });
}

/** The TOML document (smol-toml, TOML 1.0); a syntax error is INVALID_HOSTS_TOML at file:line:column. */
function readToml(text: string, source: string): TomlTable {
  try {
    return parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new PullbenchError('INVALID_HOSTS_TOML', `${source}:${err.line}:${err.column}: ${reason}`, {
      cause: err,
      details: { source, line: err.line, column: err.column, reason },
    });
  }
}

/** A TOML table (not an array, and not a date, which smol-toml gives as a Date). */
function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

/** docker.IsLocalhost: `localhost` or a loopback IP, with or without a port. */
function isLocalhost(registryHost: string): boolean {
  const host = registryHost.replace(/^\[([^\]]+)\](:\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}

/**
 * containerd's server when hosts.toml names none (config/hosts.go): registry-1.docker.io
 * for docker.io, plain http for localhost and loopback addresses, else `https://<host>`.
 */
function defaultServerUrl(registryHost: string): string {
  if (registryHost === 'docker.io') return DOCKER_HUB_SERVER;
  if (isLocalhost(registryHost)) return `http://${registryHost}`;
  return `https://${registryHost}`;
}

/** hosts.go: a URL without a scheme gets https; the path becomes `/v2` unless override_path. */
function baseUrl(raw: string, overridePath: boolean, source: string): string {
  const withScheme = raw.includes('://') ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return fail(source, `invalid host URL ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(source, `unsupported scheme in ${JSON.stringify(raw)}`);
  let path = u.pathname.replace(/\/+$/, '');
  if (!overridePath) {
    if (!path.endsWith('/v2')) path = `${path}/v2`;
  }
  return `${u.protocol}//${u.host}${path}`;
}

function strings(value: TomlValue | undefined, field: string, source: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail(source, `${field} must be a string or an array of strings`);
  return value as string[];
}

function hostEntry(table: TomlTable, url: string, isMirror: boolean, source: string, where: string): RegistryHost {
  const caps = strings(table.capabilities, `${where}.capabilities`, source);
  for (const c of caps ?? []) {
    if (!ALL_CAPABILITIES.includes(c as HostCapability)) fail(source, `${where}: unknown capability ${JSON.stringify(c)}`);
  }
  const skip = table.skip_verify;
  if (skip !== undefined && typeof skip !== 'boolean') fail(source, `${where}.skip_verify must be a boolean`);
  const override = table.override_path;
  if (override !== undefined && typeof override !== 'boolean') fail(source, `${where}.override_path must be a boolean`);
  let headers: Record<string, string> | undefined;
  if (table.header !== undefined) {
    if (!isTable(table.header)) fail(source, `${where}.header must be a table`);
    headers = {};
    for (const [name, v] of Object.entries(table.header)) {
      // hosts.go accepts a string or an array of strings per header; several values are joined as HTTP does.
      const values = strings(v, `${where}.header.${name}`, source) ?? [];
      headers[name] = values.join(', ');
    }
  }
  const ca = strings(table.ca, `${where}.ca`, source);
  return {
    url: baseUrl(url, override === true, source),
    // hosts.go: no capabilities listed means all of them.
    capabilities: caps === undefined ? [...ALL_CAPABILITIES] : ALL_CAPABILITIES.filter((c) => caps.includes(c)),
    ...(skip === undefined ? {} : { skipVerify: skip }),
    ...(headers === undefined ? {} : { headers }),
    ...(ca === undefined ? {} : { ca }),
    isMirror,
  };
}

/**
 * Parses a hosts.toml for `server` (the registry host[:port] of the image, e.g.
 * `docker.io`): the `[host."url"]` entries in file order, then the server
 * (`server = ...` or containerd's default for that host).
 */
/**
 * The certs.d directories containerd tries for a registry host, in order (remotes/docker/config/hosts.go hostPaths
 * and hostDirectory, the same in 1.7, 2.0 and 2.1): `host_port_` for a host with a port, the host as written, then
 * `_default`. The first that exists is used.
 */
export function hostDirectoryPaths(host: string): string[] {
  const colon = host.lastIndexOf(':');
  const portDir = colon > 0 ? `${host.slice(0, colon)}_${host.slice(colon + 1)}_` : host;
  return [...(portDir !== host ? [portDir] : []), host, '_default'];
}

export function parseHostsToml(text: string, server: string, source = `${server}/hosts.toml`): RegistryHost[] {
  const doc = readToml(text, source);
  const known = new Set(['server', 'host', 'capabilities', 'skip_verify', 'override_path', 'header', 'ca', 'client']);
  for (const key of Object.keys(doc)) if (!known.has(key)) fail(source, `unknown key ${JSON.stringify(key)}`);
  if (doc.server !== undefined && typeof doc.server !== 'string') fail(source, 'server must be a string');
  const hosts: RegistryHost[] = [];
  if (doc.host !== undefined) {
    if (!isTable(doc.host)) fail(source, 'host must be a table of [host."url"] entries');
    for (const [url, entry] of Object.entries(doc.host)) {
      if (!isTable(entry)) fail(source, `host.${JSON.stringify(url)} must be a table`);
      hosts.push(hostEntry(entry, url, true, source, `host.${JSON.stringify(url)}`));
    }
  }
  const serverUrl = (doc.server as string | undefined) ?? defaultServerUrl(server);
  hosts.push(hostEntry(doc, serverUrl, false, source, 'server'));
  return hosts;
}

/**
 * Loads the hosts for a registry from a containerd certs.d directory:
 * `<configPath>/<host[:port]>/hosts.toml`, then `_default/hosts.toml`, then the
 * default server alone.
 */
export async function loadHosts(configPath: string, registryHost: string): Promise<RegistryHost[]> {
  for (const dir of [registryHost, '_default']) {
    const file = join(configPath, dir, 'hosts.toml');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new PullbenchError('INVALID_HOSTS_TOML', `${file}: cannot read`, { cause: err, details: { source: file } });
    }
    return parseHostsToml(text, registryHost, file);
  }
  return [{ url: `${defaultServerUrl(registryHost)}/v2`, capabilities: [...ALL_CAPABILITIES], isMirror: false }];
}
