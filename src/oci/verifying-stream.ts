import { Transform, type TransformCallback } from 'node:stream';
import { PullbenchError } from '../errors.js';
import { Digester, parseDigest } from './digest.js';

/**
 * A pass-through that hashes what flows through it and, at the end, errors with
 * DIGEST_MISMATCH (or SIZE_MISMATCH) if the content is not what was promised. An
 * oversized stream fails as soon as it passes the expected size.
 */
export class VerifyingStream extends Transform {
  private readonly digester: Digester;

  constructor(
    readonly expectedDigest: string,
    readonly expectedSize?: number,
  ) {
    super();
    this.digester = new Digester(parseDigest(expectedDigest).algorithm);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.digester.size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    if (this.expectedSize !== undefined && this.digester.size > this.expectedSize) {
      callback(this.sizeError());
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedSize !== undefined && this.digester.size !== this.expectedSize) {
      callback(this.sizeError());
      return;
    }
    const actual = this.digester.digest();
    callback(actual === this.expectedDigest ? undefined : digestMismatch(this.expectedDigest, actual));
  }

  private sizeError(): PullbenchError {
    return sizeMismatch(this.expectedDigest, this.expectedSize!, this.digester.size);
  }
}

/** The error for content whose digest is not the one promised. */
export function digestMismatch(expected: string, actual: string): PullbenchError {
  return new PullbenchError('DIGEST_MISMATCH', `content has digest ${actual}, expected ${expected}`, { details: { expected, actual } });
}

/** The error for content of another size than the one promised. */
export function sizeMismatch(digest: string, expected: number, actual: number): PullbenchError {
  return new PullbenchError('SIZE_MISMATCH', `content of ${digest} does not match: got ${actual} bytes, expected ${expected}`, {
    details: { digest, expected, actual },
  });
}
