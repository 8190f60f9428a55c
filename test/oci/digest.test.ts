import { describe, expect, it } from 'vitest';
import { Digester, digestOf, isDigest, parseDigest } from '../../src/oci/digest.js';
import { isPullbenchError } from '../../src/errors.js';

describe('digests', () => {
  it('computes sha256 of content as the OCI spec writes it', () => {
    expect(digestOf('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
  it('agrees between one-shot and streaming', () => {
    const d = new Digester();
    d.update(Buffer.from('hello '));
    d.update(Buffer.from('world'));
    expect(d.digest()).toBe(digestOf('hello world'));
    expect(d.size).toBe(11);
  });
  it.each(['sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256:' + 'A'.repeat(64), 'sha256:../../etc/passwd', ''])(
    'rejects %j with INVALID_DIGEST',
    (bad) => {
      expect(isDigest(bad)).toBe(false);
      try {
        parseDigest(bad);
        expect.unreachable();
      } catch (err) {
        expect(isPullbenchError(err, 'INVALID_DIGEST')).toBe(true);
      }
    },
  );
});
