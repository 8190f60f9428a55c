import { describe, expect, it } from 'vitest';
import { mergeScopes, parseWwwAuthenticate, tokenFromResponse } from '../../src/oci/auth.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Docker Hub Bearer challenge', () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } },
    ]);
  });
  it('reads several challenges, unquoted values and escapes', () => {
    expect(parseWwwAuthenticate('Basic realm="a \\"b\\"", Bearer realm=https://x/t, service=s')).toEqual([
      { scheme: 'basic', params: { realm: 'a "b"' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', service: 's' } },
    ]);
  });
  it('returns nothing for an empty header', () => expect(parseWwwAuthenticate('')).toEqual([]));
});

describe('scopes and tokens', () => {
  it('merges actions on the same resource', () => {
    expect(mergeScopes('repository:a:pull', 'repository:a:push repository:b:pull')).toEqual(['repository:a:pull,push', 'repository:b:pull']);
  });
  it('accepts token or access_token, and nothing else', () => {
    expect(tokenFromResponse({ token: 't' })).toBe('t');
    expect(tokenFromResponse({ access_token: 'a' })).toBe('a');
    expect(() => tokenFromResponse({ nope: 1 })).toThrow();
  });
});
