import { describe, expect, it } from 'vitest';
import { normalizePlatform, parsePlatform, selectPlatform } from '../../src/oci/platform.js';
import { MediaType, type ImageIndex, type Platform } from '../../src/oci/media-types.js';
import { isPullbenchError } from '../../src/errors.js';

function index(...platforms: (Platform | undefined)[]): ImageIndex {
  return {
    schemaVersion: 2,
    manifests: platforms.map((platform, i) => ({ mediaType: MediaType.OciManifest, digest: `sha256:${String(i).repeat(64)}`, size: 1, ...(platform ? { platform } : {}) })),
  };
}
const at = (idx: ImageIndex, want: Parameters<typeof selectPlatform>[1]): number =>
  idx.manifests.indexOf(selectPlatform(idx, want));

describe('platform matching, as containerd', () => {
  it.each([
    [{ os: 'Linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'aarch64' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'armhf' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'armel' }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ os: 'linux', architecture: 'i386' }, { os: 'linux', architecture: '386' }],
  ])('normalises %j', (input, out) => expect(normalizePlatform(input)).toEqual(out));

  const multi = index(
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm', variant: 'v6' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'windows', architecture: 'amd64' },
  );

  it('picks the exact platform', () => {
    expect(at(multi, { os: 'linux', architecture: 'amd64' })).toBe(0);
    expect(at(multi, { os: 'linux', architecture: 'arm64' })).toBe(3);
    expect(at(multi, { os: 'windows', architecture: 'amd64' })).toBe(4);
  });
  it('treats arm without a variant as v7, and prefers v7 over v6', () => {
    expect(at(multi, { os: 'linux', architecture: 'arm' })).toBe(2);
    expect(at(multi, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(1);
  });
  it('lets arm64 fall back to arm/v7, and amd64 to 386', () => {
    expect(at(index({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }), { os: 'linux', architecture: 'arm64' })).toBe(1);
    expect(at(index({ os: 'linux', architecture: '386' }), { os: 'linux', architecture: 'amd64' })).toBe(0);
  });
  it('does not run arm/v7 images on arm/v6 or amd64 images on arm64', () => {
    const idx = index({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'amd64' });
    for (const want of [{ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 's390x' }]) {
      try {
        selectPlatform(idx, want);
        expect.unreachable();
      } catch (err) {
        expect(isPullbenchError(err, 'PLATFORM_NOT_FOUND')).toBe(true);
      }
    }
  });
  it('takes an entry without a platform only as a last resort', () => {
    expect(at(index(undefined, { os: 'linux', architecture: 'amd64' }), { os: 'linux', architecture: 'amd64' })).toBe(1);
    expect(at(index(undefined, { os: 'linux', architecture: 'amd64' }), { os: 'linux', architecture: 'arm64' })).toBe(0);
  });
  it('parses os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(() => parsePlatform('linux')).toThrow(/os\/arch/);
  });
});
