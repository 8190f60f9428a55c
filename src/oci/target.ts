import { PullbenchError } from '../errors.js';
import { RegistryClient } from './client.js';
import type { BasicCredentials } from './credentials.js';
import { parseReference } from './reference.js';

/** Where a command pushes: a registry, a repository in it and a tag. */
export interface PushTarget {
  client: RegistryClient;
  registryUrl: string;
  repo: string;
  tag: string;
  /** host/repo:tag, for messages and for pulling the result. */
  reference: string;
}

export interface PushTargetOptions {
  /** Registry base URL; default `https://<domain of ref>` (http for localhost and 127.0.0.1). */
  registry?: string | undefined;
  credentials?: BasicCredentials | undefined;
  fetch?: typeof fetch | undefined;
}

function hasDomain(input: string): boolean {
  const slash = input.indexOf('/');
  if (slash === -1) return false;
  const first = input.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase();
}

/**
 * Turns `repo[:tag]` (relative to `registry`) or `host[:port]/repo[:tag]` into a client and
 * a repository. Unlike image references in pods, a short name is not put under
 * docker.io/library: `bench/app:v1` with `--registry URL` means repository `bench/app` there.
 */
export function pushTarget(ref: string, opts: PushTargetOptions = {}): PushTarget {
  const explicit = hasDomain(ref);
  const parsed = parseReference(explicit ? ref : `localhost/${ref}`);
  if (parsed.digest) throw new PullbenchError('INVALID_ARGUMENT', `${ref}: push to a tag, not a digest`);
  let registryUrl = opts.registry;
  if (!registryUrl) {
    if (!explicit) throw new PullbenchError('INVALID_ARGUMENT', `${ref}: give --registry URL or a reference with a registry host (e.g. 127.0.0.1:5000/${ref})`);
    const local = /^(localhost|127\.|\[::1\])/.test(parsed.domain);
    registryUrl = `${local ? 'http' : 'https'}://${parsed.domain}`;
  }
  const client = new RegistryClient({ baseUrl: registryUrl, credentials: opts.credentials, fetch: opts.fetch, userAgent: 'pullbench-image' });
  const tag = parsed.tag ?? 'latest';
  return { client, registryUrl: client.baseUrl, repo: parsed.path, tag, reference: `${new URL(client.baseUrl).host}/${parsed.path}:${tag}` };
}
