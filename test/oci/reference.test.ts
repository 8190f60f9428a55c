import { describe, expect, it } from 'vitest';
import { parseReference } from '../../src/oci/reference.js';
import { isPullbenchError } from '../../src/errors.js';

const D = 'sha256:' + 'a'.repeat(64);

// Cases from distribution/reference's normalize_test.go and reference_test.go grammar,
// plus the Kubernetes defaulting of `latest`.
describe('parseReference', () => {
  describe('normalises valid references', () => {
    it.each([
      // input, domain, path, tag, digest, toString
      ['nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'docker.io/library/nginx:latest'],
      ['nginx:1.27', 'docker.io', 'library/nginx', '1.27', undefined, 'docker.io/library/nginx:1.27'],
      ['library/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'docker.io/library/nginx:latest'],
      ['docker.io/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'docker.io/library/nginx:latest'],
      ['index.docker.io/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'docker.io/library/nginx:latest'],
      ['index.docker.io/user/app:v1', 'docker.io', 'user/app', 'v1', undefined, 'docker.io/user/app:v1'],
      ['user/app', 'docker.io', 'user/app', 'latest', undefined, 'docker.io/user/app:latest'],
      ['registry.k8s.io/pause:3.9', 'registry.k8s.io', 'pause', '3.9', undefined, 'registry.k8s.io/pause:3.9'],
      ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest'],
      ['localhost:5000/a/b/c:t', 'localhost:5000', 'a/b/c', 't', undefined, 'localhost:5000/a/b/c:t'],
      ['127.0.0.1:41234/bench/img:v2', '127.0.0.1:41234', 'bench/img', 'v2', undefined, '127.0.0.1:41234/bench/img:v2'],
      ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined, '[::1]:5000/app:latest'],
      ['Example.COM/app', 'Example.COM', 'app', 'latest', undefined, 'Example.COM/app:latest'],
      ['Uppercase/app', 'Uppercase', 'app', 'latest', undefined, 'Uppercase/app:latest'],
      ['myhost:5000/app', 'myhost:5000', 'app', 'latest', undefined, 'myhost:5000/app:latest'],
      // a bare host:port is a docker.io image with a tag, as distribution parses it
      ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined, 'docker.io/library/localhost:5000'],
      ['a__b/c-d.e--f', 'docker.io', 'a__b/c-d.e--f', 'latest', undefined, 'docker.io/a__b/c-d.e--f:latest'],
      ['nginx:Tag_With.Mixed-Case', 'docker.io', 'library/nginx', 'Tag_With.Mixed-Case', undefined, 'docker.io/library/nginx:Tag_With.Mixed-Case'],
      [`nginx@${D}`, 'docker.io', 'library/nginx', undefined, D, `docker.io/library/nginx@${D}`],
      [`nginx:1.27@${D}`, 'docker.io', 'library/nginx', '1.27', D, `docker.io/library/nginx:1.27@${D}`],
      [`ghcr.io/o/r:v@${D}`, 'ghcr.io', 'o/r', 'v', D, `ghcr.io/o/r:v@${D}`],
    ])('%s', (input, domain, path, tag, digest, full) => {
      const ref = parseReference(input);
      expect(ref.domain).toBe(domain);
      expect(ref.path).toBe(path);
      expect(ref.tag).toBe(tag);
      expect(ref.digest).toBe(digest);
      expect(ref.toString()).toBe(full);
      expect(`${ref}`).toBe(full);
      expect(ref.name).toBe(`${domain}/${path}`);
    });
  });

  it('gives the familiar name with its tag, and pulls by digest when there is one', () => {
    expect(parseReference('nginx').familiar).toBe('docker.io/library/nginx:latest');
    expect(parseReference('nginx').reference).toBe('latest');
    expect(parseReference(`nginx:1@${D}`).reference).toBe(D);
    expect(parseReference(`nginx@${D}`).familiar).toBe(`docker.io/library/nginx@${D}`);
  });

  it('accepts a name of exactly 255 characters and a 128-character tag', () => {
    const path = 'u/' + 'a'.repeat(255 - 'docker.io/u/'.length);
    expect(parseReference(`docker.io/${path}`).path).toBe(path);
    expect(parseReference(`nginx:${'t'.repeat(128)}`).tag).toHaveLength(128);
  });

  describe('rejects invalid names with INVALID_IMAGE_NAME', () => {
    it.each([
      [''],
      [':'],
      ['/'],
      ['nginx:'],
      ['@' + D],
      ['NGINX'],
      ['docker.io/Library/nginx'],
      ['user/Repo'],
      ['a.b/UPPER'],
      ['nginx:-tag'],
      ['nginx:.tag'],
      [`nginx:${'t'.repeat(129)}`],
      ['nginx@sha256:abc'],
      ['nginx@sha256:' + 'A'.repeat(64)],
      ['nginx@md5:' + 'a'.repeat(32)],
      ['nginx@' + 'a'.repeat(64)],
      ['a'.repeat(64)],
      ['-nginx'],
      ['nginx-'],
      ['ngin..x'],
      ['a/b//c'],
      ['a/b/'],
      ['ngi nx'],
      ['nginx:a b'],
      ['a.b:port/app'],
      ['-host.com/app'],
      ['host.com/../etc'],
      [`docker.io/u/${'a'.repeat(244)}`],
      ['nginx:1@sha256:' + 'a'.repeat(64) + '@x'],
    ])('%j', (input) => {
      try {
        parseReference(input);
        expect.unreachable(`accepted ${input}`);
      } catch (err) {
        expect(isPullbenchError(err, 'INVALID_IMAGE_NAME')).toBe(true);
      }
    });
  });
});
