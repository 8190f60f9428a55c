import { describe, expect, it } from 'vitest';
import { credentialsFrom } from '../../src/cli/credential-flags.js';
import { passwordFromEnv } from '../../src/util/env-password.js';
import { errorCodeOf } from '../helpers/error-code.js';

describe('credential flags', () => {
  const env = { PB_TEST_PW: 'pw-123', PULLBENCH_REGISTRY_PASSWORD: 'default-pw', PULLBENCH_UPSTREAM_PASSWORD: 'up-pw' };

  it('reads the password from the variable --<party>-password-env names', () => {
    expect(credentialsFrom('registry', { 'registry-user': 'alice', 'registry-password-env': 'PB_TEST_PW' }, env)).toEqual({ username: 'alice', password: 'pw-123' });
  });

  it('falls back to PULLBENCH_<PARTY>_PASSWORD', () => {
    expect(credentialsFrom('registry', { 'registry-user': 'alice' }, env)).toEqual({ username: 'alice', password: 'default-pw' });
    expect(credentialsFrom('upstream', { 'upstream-user': 'bob' }, env)).toEqual({ username: 'bob', password: 'up-pw' });
  });

  it('gives no credentials without a user', () => {
    expect(credentialsFrom('registry', {}, env)).toBeUndefined();
  });

  it('refuses a user whose variable is unset, and a variable without a user, never echoing a password', () => {
    expect(errorCodeOf(() => credentialsFrom('registry', { 'registry-user': 'alice', 'registry-password-env': 'PB_UNSET' }, env))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => credentialsFrom('registry', { 'registry-user': 'alice' }, {}))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => credentialsFrom('registry', { 'registry-password-env': 'PB_TEST_PW' }, env))).toBe('INVALID_ARGUMENT');
    try {
      passwordFromEnv('PB_UNSET', '--key-password-env', env);
      expect.unreachable();
    } catch (err) {
      expect(String(err)).toContain('PB_UNSET');
      expect(String(err)).not.toContain('pw-123');
    }
  });
});
