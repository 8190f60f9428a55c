import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { globMatchImage, kyvernoSubject, kyvernoWildcard } from '../../src/supply-chain/image-match.js';

const load = <T>(name: string): { commit: string; cases: T[] } => JSON.parse(readFileSync(new URL(`../fixtures/${name}/cases.json`, import.meta.url), 'utf8')) as { commit: string; cases: T[] };

describe('policy-controller globs (its TestGlobMatch table)', () => {
  const { cases } = load<{ image: string; glob: string; wantMatch: boolean }>('policy-controller-glob');
  it.each(cases)('$glob vs $image -> $wantMatch', ({ image, glob, wantMatch }) => {
    expect(globMatchImage(glob, image)).toBe(wantMatch);
  });
});

describe('Kyverno wildcards (its TestMatch table)', () => {
  const { cases } = load<{ pattern: string; text: string; matched: boolean }>('kyverno-wildcard');
  it.each(cases)('$pattern vs $text -> $matched', ({ pattern, text, matched }) => {
    expect(kyvernoWildcard(pattern, text)).toBe(matched);
  });
});

describe('the name Kyverno matches imageReferences against (ImageInfo.String)', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['acme/app:v1', 'docker.io/acme/app:v1'],
    ['ghcr.io/acme/app', 'ghcr.io/acme/app:latest'],
    ['ghcr.io/acme/app:v1@sha256:abc', 'ghcr.io/acme/app@sha256:abc'],
    ['localhost:5000/app:v1', 'localhost:5000/library/app:v1'], // library/ is added to any one-segment path, whatever the registry
    ['index.docker.io/nginx', 'index.docker.io/library/nginx:latest'],
  ])('%s -> %s', (image, subject) => {
    expect(kyvernoSubject(image)).toBe(subject);
  });
  it('so "ghcr.io/acme/*" covers nested repositories and a docker.io pattern covers short names', () => {
    expect(kyvernoWildcard('ghcr.io/acme/*', kyvernoSubject('ghcr.io/acme/team/app:v1'))).toBe(true);
    expect(kyvernoWildcard('docker.io/library/*', kyvernoSubject('nginx:1.27'))).toBe(true);
    expect(kyvernoWildcard('nginx*', kyvernoSubject('nginx:1.27'))).toBe(false);
  });
});
