import { createHash, type Hash } from 'node:crypto';
import { PullbenchError } from '../errors.js';

export type Algorithm = 'sha256' | 'sha512';
const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: Algorithm;
  hex: string;
}

/** Parses `sha256:<64 hex>` / `sha512:<128 hex>`; anything else is INVALID_DIGEST. */
export function parseDigest(digest: string): ParsedDigest {
  const m = DIGEST_RE.exec(digest);
  if (!m || m[2]!.length !== HEX_LENGTH[m[1] as Algorithm]) {
    throw new PullbenchError('INVALID_DIGEST', `invalid digest ${JSON.stringify(digest.slice(0, 200))}`);
  }
  return { algorithm: m[1] as Algorithm, hex: m[2]! };
}

export function isDigest(value: string): boolean {
  const m = DIGEST_RE.exec(value);
  return m !== null && m[2]!.length === HEX_LENGTH[m[1] as Algorithm];
}

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental digester for streams. */
export class Digester {
  private readonly hash: Hash;
  size = 0;
  constructor(readonly algorithm: Algorithm = 'sha256') {
    this.hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
  }
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}
