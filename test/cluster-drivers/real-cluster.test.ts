import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRealCluster } from '../../src/cluster/kube/real-cluster.js';
import { isPullbenchError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'pb-real-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startRealCluster', () => {
  it('connects the kubeconfig driver to the named context', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: a\n  context: { cluster: c, user: u }\n- name: b\n  context: { cluster: c, user: u }\nusers:\n- name: u\n  user: { token: t }\n');
    const kube = await startRealCluster({ driver: 'kubeconfig', nodes: 3, kubeconfig: path, context: 'b' });
    expect(kube.driver).toBe('kubeconfig');
    expect(kube.kubeConfig.getCurrentContext()).toBe('b');
    expect(kube.criSocket).toBe('/run/containerd/containerd.sock');
  });

  it('says DRIVER_UNAVAILABLE for a context that does not exist', async () => {
    const err = await startRealCluster({ driver: 'kubeconfig', nodes: 1, kubeconfig: join(dir, 'config'), context: 'zzz' }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'DRIVER_UNAVAILABLE')).toBe(true);
  });

  it('refuses a multi-node k3s cluster before starting anything', async () => {
    const err = await startRealCluster({ driver: 'k3s', nodes: 3 }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
