import { describe, expect, it } from 'vitest';
import { environmentInfo, shaExtensionsOf } from '../../src/util/environment.js';

describe('what results say about the SHA extensions', () => {
  it('reads the mask the fidelity runs use as hiding them, and keeps the value', () => {
    expect(shaExtensionsOf(':~0x20000000')).toEqual({ hidden: true, opensslIa32cap: ':~0x20000000' });
    expect(shaExtensionsOf('~0x0:~0x20000001')).toMatchObject({ hidden: true });
  });

  it('does not call them hidden when unset, when the mask sets bits instead of clearing them, or clears others', () => {
    expect(shaExtensionsOf(undefined)).toEqual({ hidden: false });
    expect(shaExtensionsOf(':0x20000000')).toMatchObject({ hidden: false });
    expect(shaExtensionsOf(':~0x10000000')).toMatchObject({ hidden: false });
    expect(shaExtensionsOf('~0x200000000000000')).toMatchObject({ hidden: false });
  });

  it('is part of every run\'s environment', () => {
    expect(environmentInfo().shaExtensions).toEqual(shaExtensionsOf(process.env.OPENSSL_ia32cap));
  });
});
