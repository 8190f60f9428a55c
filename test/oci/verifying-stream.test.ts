import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import { VerifyingStream } from '../../src/oci/verifying-stream.js';
import { digestOf } from '../../src/oci/digest.js';
import { isPullbenchError } from '../../src/errors.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isPullbenchError(e) ? e.code : String(e)),
  );
}

describe('VerifyingStream', () => {
  const data = Buffer.from('layer bytes');
  it('passes matching content through', async () => {
    expect((await buffer(Readable.from([data]).pipe(new VerifyingStream(digestOf(data), data.length)))).equals(data)).toBe(true);
  });
  it('fails a wrong digest with DIGEST_MISMATCH', async () => {
    expect(await codeOf(pipeline(Readable.from([data]), new VerifyingStream(digestOf('x')), async function* (s) { for await (const _ of s) yield _; }))).toBe('DIGEST_MISMATCH');
  });
  it('fails short and long content with SIZE_MISMATCH', async () => {
    expect(await codeOf(buffer(Readable.from([data]).pipe(new VerifyingStream(digestOf(data), data.length + 1))))).toBe('SIZE_MISMATCH');
    expect(await codeOf(buffer(Readable.from([data]).pipe(new VerifyingStream(digestOf(data), 3))))).toBe('SIZE_MISMATCH');
  });
  it('verifies sha512 digests too', async () => {
    expect((await buffer(Readable.from([data]).pipe(new VerifyingStream(digestOf(data, 'sha512'))))).length).toBe(data.length);
  });
});
