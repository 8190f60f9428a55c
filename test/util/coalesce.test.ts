import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { coalesce } from '../../src/util/coalesce.js';

async function runs(chunks: Buffer[], min: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const c = coalesce(min);
  c.on('data', (b: Buffer) => out.push(b));
  await pipeline(Readable.from(chunks), c);
  return out;
}

describe('coalesce', () => {
  it('passes the same bytes in runs of at least minBytes, the last one shorter', async () => {
    const data = randomBytes(10_000);
    const chunks = Array.from({ length: 100 }, (_, i) => data.subarray(i * 100, i * 100 + 100));
    const out = await runs(chunks, 1024);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(out.slice(0, -1).every((b) => b.length === 1100)).toBe(true);
    expect(out).toHaveLength(Math.ceil(10_000 / 1100));
    expect(out.at(-1)!.length).toBe(10_000 - (out.length - 1) * 1100);
  });

  it('passes a big chunk through without copying it, and empty input as nothing', async () => {
    const big = randomBytes(5000);
    const out = await runs([big], 1024);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(big);
    expect(await runs([], 1024)).toEqual([]);
  });

  it('feeds a decompressor the same layer: the inflated bytes are unchanged', async () => {
    const raw = randomBytes(600_000);
    const gz = gzipSync(raw, { level: 1 });
    const parts = Array.from({ length: Math.ceil(gz.length / 16384) }, (_, i) => gz.subarray(i * 16384, (i + 1) * 16384));
    const out: Buffer[] = [];
    const gunzip = createGunzip();
    gunzip.on('data', (b: Buffer) => out.push(b));
    await pipeline(Readable.from(parts), coalesce(256 * 1024), gunzip);
    expect(Buffer.concat(out).equals(raw)).toBe(true);
  });
});
