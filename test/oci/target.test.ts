import { describe, expect, it } from 'vitest';
import { pushTarget } from '../../src/oci/target.js';
import { errorCodeOf } from '../helpers/error-code.js';


describe('push targets', () => {
  it.each([
    ['bench/app:v1', 'http://127.0.0.1:5000', 'http://127.0.0.1:5000', 'bench/app', 'v1', '127.0.0.1:5000/bench/app:v1'],
    ['app', 'http://127.0.0.1:5000/', 'http://127.0.0.1:5000', 'app', 'latest', '127.0.0.1:5000/app:latest'],
    ['127.0.0.1:5000/team/app:v2', undefined, 'http://127.0.0.1:5000', 'team/app', 'v2', '127.0.0.1:5000/team/app:v2'],
    ['localhost:5000/app', undefined, 'http://localhost:5000', 'app', 'latest', 'localhost:5000/app:latest'],
    ['registry.example.com/app:v1', undefined, 'https://registry.example.com', 'app', 'v1', 'registry.example.com/app:v1'],
  ])('%s with --registry %s', (ref, registry, url, repo, tag, reference) => {
    const t = pushTarget(ref, { registry });
    expect({ url: t.registryUrl, repo: t.repo, tag: t.tag, reference: t.reference }).toEqual({ url, repo, tag, reference });
  });

  it.each([['bench/App:v1'], ['app@sha256:' + 'a'.repeat(64)], ['bench/app:v1 ']])('refuses %j', (ref) => {
    expect(errorCodeOf(() => pushTarget(ref, { registry: 'http://127.0.0.1:5000' }))).toMatch(/INVALID_IMAGE_NAME|INVALID_ARGUMENT/);
  });

  it('needs a registry for a short name', () => {
    expect(errorCodeOf(() => pushTarget('bench/app:v1'))).toBe('INVALID_ARGUMENT');
  });
});
