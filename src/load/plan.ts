import { PullbenchError } from '../errors.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { EngineRequest } from './engine.js';
import { REQUEST_KINDS, type LoadProfile, type MixWeights, type RequestKind } from './types.js';

/** What discovery found out about the image and the registry's auth. */
export interface ImageTarget {
  /** Registry origin, scheme://host:port. */
  registry: string;
  repository: string;
  /** Tag or digest as given. */
  reference: string;
  /** Digest of what the reference names (an index or a manifest). */
  manifestDigest: string;
  /** Manifests a cold pull GETs by digest: the index (if any), then the platform's manifest. */
  manifestChain: string[];
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number }>;
  /** Token endpoint with service and scope, when the registry uses bearer tokens. */
  tokenUrl?: URL | undefined;
}

/** Largest request cycle a mix may expand to. */
const MAX_CYCLE = 10_000;

const BLOB_ACCEPT = '*/*';

/**
 * The cycle of requests each connection repeats for a profile. Pure: the
 * Authorization header is added by the engine, so tokens can be refreshed.
 * All requests of a cycle go to one origin (autocannon's model).
 */
export function planRequests(profile: LoadProfile, target: ImageTarget, mix: MixWeights = {}, userAgent = 'pullbench-load'): { origin: string; requests: EngineRequest[] } {
  const base = `/v2/${target.repository}`;
  const manifestHeaders = { accept: MANIFEST_ACCEPT, 'user-agent': userAgent };
  const blobHeaders = { accept: BLOB_ACCEPT, 'user-agent': userAgent };
  const byTag = (method: 'GET' | 'HEAD', kind: RequestKind): EngineRequest => ({ kind, method, path: `${base}/manifests/${target.reference}`, headers: manifestHeaders });
  const blob = (digest: string): EngineRequest => ({ kind: 'blobGet', method: 'GET', path: `${base}/blobs/${digest}`, headers: blobHeaders });
  const token = (): EngineRequest => {
    const url = target.tokenUrl!;
    return { kind: 'token', method: 'GET', path: `${url.pathname}${url.search}`, headers: { 'user-agent': userAgent } };
  };

  switch (profile) {
    case 'manifest-head':
      return { origin: target.registry, requests: [byTag('HEAD', 'manifestHead')] };
    case 'manifest-get':
      return { origin: target.registry, requests: [byTag('GET', 'manifestGet')] };
    case 'blob-get':
      if (target.layers.length === 0) throw new PullbenchError('INVALID_ARGUMENT', `${target.repository}:${target.reference} has no layers to GET`);
      return { origin: target.registry, requests: target.layers.map((l) => blob(l.digest)) };
    case 'token':
      if (!target.tokenUrl) throw noTokens(target);
      return { origin: target.tokenUrl.origin, requests: [token()] };
    case 'mix': {
      const blobs = [target.config, ...target.layers].map((b) => b.digest);
      const weights = mixWeights(mix, blobs.length, target.manifestChain.length);
      if (weights.token > 0) {
        if (!target.tokenUrl) throw noTokens(target);
        if (target.tokenUrl.origin !== target.registry) {
          throw new PullbenchError('INVALID_ARGUMENT', `the token endpoint (${target.tokenUrl.origin}) is not on the registry's origin; storm it with --profile token instead of in a mix`);
        }
      }
      let manifestIndex = 0;
      let blobIndex = 0;
      const requests = interleave(weights).map((kind): EngineRequest => {
        switch (kind) {
          case 'manifestHead':
            return byTag('HEAD', 'manifestHead');
          case 'manifestGet': {
            const digest = target.manifestChain[manifestIndex++ % target.manifestChain.length]!;
            return { kind, method: 'GET', path: `${base}/manifests/${digest}`, headers: manifestHeaders };
          }
          case 'blobGet':
            return blob(blobs[blobIndex++ % blobs.length]!);
          case 'token':
            return token();
        }
      });
      return { origin: target.registry, requests };
    }
  }
}

/**
 * Weights of a mix: by default what one cold pull sends (1 HEAD by tag, a GET
 * per manifest in the chain, a GET per blob: config and layers), no tokens.
 */
export function mixWeights(mix: MixWeights, blobCount: number, manifestCount: number): Record<RequestKind, number> {
  const weights: Record<RequestKind, number> = {
    manifestHead: mix.manifestHead ?? 1,
    manifestGet: mix.manifestGet ?? manifestCount,
    blobGet: mix.blobGet ?? blobCount,
    token: mix.token ?? 0,
  };
  const bad = REQUEST_KINDS.filter((k) => !Number.isInteger(weights[k]) || weights[k] < 0);
  if (bad.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `mix weights must be whole numbers >= 0 (bad: ${bad.join(', ')})`, { details: { bad } });
  const sum = REQUEST_KINDS.reduce((s, k) => s + weights[k], 0);
  if (sum === 0) throw new PullbenchError('INVALID_ARGUMENT', 'a mix needs at least one weight above 0');
  if (sum > MAX_CYCLE) throw new PullbenchError('INVALID_ARGUMENT', `mix weights add up to ${sum}; keep them at or below ${MAX_CYCLE}`);
  return weights;
}

/** Spreads kinds by weight as smooth weighted round-robin does: 1,1,3 -> B H B G B. */
export function interleave(weights: Record<RequestKind, number>): RequestKind[] {
  const total = REQUEST_KINDS.reduce((s, k) => s + weights[k], 0);
  const current = new Map<RequestKind, number>(REQUEST_KINDS.map((k) => [k, 0]));
  const out: RequestKind[] = [];
  for (let i = 0; i < total; i++) {
    let best: RequestKind | undefined;
    for (const k of REQUEST_KINDS) {
      if (weights[k] === 0) continue;
      current.set(k, current.get(k)! + weights[k]);
      if (best === undefined || current.get(k)! > current.get(best)!) best = k;
    }
    current.set(best!, current.get(best!)! - total);
    out.push(best!);
  }
  return out;
}

/** Parses `manifest-head=1,manifest-get=1,blob-get=3,token=0` (flag syntax). */
export function parseMix(text: string): MixWeights {
  const names: Record<string, RequestKind> = { 'manifest-head': 'manifestHead', 'manifest-get': 'manifestGet', 'blob-get': 'blobGet', token: 'token' };
  const out: MixWeights = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)=(\d{1,5})$/.exec(part);
    const kind = m ? names[m[1]!] : undefined;
    if (!m || !kind) {
      throw new PullbenchError('INVALID_ARGUMENT', `invalid mix entry ${JSON.stringify(part)}: expected kind=weight with kind one of ${Object.keys(names).join(', ')}`);
    }
    out[kind] = Number(m[2]);
  }
  return out;
}

function noTokens(target: ImageTarget): PullbenchError {
  return new PullbenchError('INVALID_ARGUMENT', `the registry serving ${target.repository} does not use bearer tokens, so there is no token endpoint to storm`);
}
