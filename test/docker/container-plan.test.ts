import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../cluster-drivers/error-code.js';
import { planContainer } from '../../src/registry/providers/container.js';


describe('planContainer', () => {
  it('listens on 127.0.0.1 at the given port', () => {
    const plan = planContainer({}, 41234);
    expect(plan.env.REGISTRY_HTTP_ADDR).toBe('127.0.0.1:41234');
    expect(plan.env.REGISTRY_AUTH).toBeUndefined();
    expect(plan.files).toEqual([]);
  });

  it('copies an htpasswd file with bcrypt hashes, never the password in the environment', () => {
    const plan = planContainer({ users: [{ username: 'alice', password: 's3cret-pw' }] }, 5000);
    expect(plan.env.REGISTRY_AUTH).toBe('htpasswd');
    const htpasswd = plan.files.find((f) => f.target.endsWith('htpasswd'));
    const [user, hash] = (htpasswd?.content.trim() ?? '').split(':');
    expect(user).toBe('alice');
    expect(bcrypt.compareSync('s3cret-pw', hash ?? '')).toBe(true);
    expect(JSON.stringify(plan.env)).not.toContain('s3cret-pw');
    expect(plan.secrets).toContain('s3cret-pw');
  });

  it('mirrors through REGISTRY_PROXY_REMOTEURL, with upstream credentials in a copied config file', () => {
    const plan = planContainer({ upstream: { url: 'http://127.0.0.1:5001', credentials: { username: 'u', password: 'up-pw' } } }, 5002);
    expect(plan.env.REGISTRY_PROXY_REMOTEURL).toBe('http://127.0.0.1:5001');
    expect(JSON.stringify(plan.env)).not.toContain('up-pw');
    const config = plan.files.find((f) => f.target === '/etc/docker/registry/config.yml');
    expect(config?.content).toContain('password: up-pw');
    expect(config?.mode).toBe(0o600);
  });

  it('rejects what distribution cannot do, all at once', () => {
    expect(errorCodeOf(() => planContainer({ auth: 'token', rateLimit: { manifestGets: 1, windowMs: 1 } }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ auth: 'basic' }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ upstream: { url: 'not a url' } }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ users: [{ username: 'a:b', password: 'x' }] }, 1))).toBe('INVALID_ARGUMENT');
  });
});
