import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kindConfigYaml } from '../../src/cluster/drivers/kind/config.js';
import { k3sKubeletArgs, kubeletSettingsFromConfigz, unappliableSettings } from '../../src/cluster/kube/kubelet-settings.js';
import { startRealCluster } from '../../src/cluster/kube/real-cluster.js';
import { isPullbenchError } from '../../src/errors.js';
import { parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';

const asked = { serializeImagePulls: false, maxParallelImagePulls: 4, registryPullQPS: 20, registryBurst: 40, maxConcurrentDownloads: 6, imagePullProgressTimeout: 90_000, ensureSecretPulledImages: true };

describe('a kind cluster created with the scenario\'s kubelet settings', () => {
  const cfg = parse(kindConfigYaml({ name: 'pullbench', workers: 1, kubelet: asked })) as { kubeadmConfigPatches: string[]; containerdConfigPatches: string[] };

  it('patches every node\'s KubeletConfiguration with the fields that are set, and the KEP-2535 feature gate', () => {
    expect(cfg.kubeadmConfigPatches).toHaveLength(1);
    expect(parse(cfg.kubeadmConfigPatches[0]!)).toEqual({
      kind: 'KubeletConfiguration',
      serializeImagePulls: false,
      maxParallelImagePulls: 4,
      registryPullQPS: 20,
      registryBurst: 40,
      featureGates: { KubeletEnsureSecretPulledImages: true },
    });
  });

  it("sets containerd's max_concurrent_downloads and image_pull_progress_timeout (a Go duration) beside the registry config_path", () => {
    expect(cfg.containerdConfigPatches).toEqual([
      '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"',
      '[plugins."io.containerd.grpc.v1.cri"]\n  max_concurrent_downloads = 6\n  image_pull_progress_timeout = "1m30s"',
    ]);
  });

  it('writes no patch for settings left unset, so kubelet and containerd keep their own defaults', () => {
    const plain = parse(kindConfigYaml({ name: 'pullbench', workers: 1, kubelet: { ensureSecretPulledImages: false } })) as Record<string, unknown>;
    expect(plain.kubeadmConfigPatches).toBeUndefined();
    expect(plain.containerdConfigPatches).toHaveLength(1);
  });
});

describe('a k3s server started with the scenario\'s kubelet settings', () => {
  it('passes each as --kubelet-arg with the kubelet flag name, and never a flag kubelet does not have', () => {
    const { maxConcurrentDownloads: _, imagePullProgressTimeout: __, ...kubelet } = asked;
    expect(k3sKubeletArgs(kubelet)).toEqual([
      '--kubelet-arg=serialize-image-pulls=false',
      '--kubelet-arg=registry-qps=20',
      '--kubelet-arg=registry-burst=40',
      '--kubelet-arg=feature-gates=KubeletEnsureSecretPulledImages=true',
    ]);
  });
});

describe('settings a cluster cannot take', () => {
  it('an existing cluster refuses every one that is set, naming it', () => {
    expect(unappliableSettings('kubeconfig', { registryBurst: 40, ensureSecretPulledImages: false }).map((r) => r.field)).toEqual(['registryBurst']);
    expect(unappliableSettings('kind', asked)).toEqual([]);
    expect(unappliableSettings('k3s', asked).map((r) => r.field)).toEqual(['maxParallelImagePulls', 'maxConcurrentDownloads', 'imagePullProgressTimeout']);
    expect(unappliableSettings('k3s', { maxParallelImagePulls: 4 })[0]!.why).toContain('no kubelet flag');
    expect(unappliableSettings('kubeconfig', { imagePullProgressTimeout: 0 }).map((r) => r.field)).toEqual(['imagePullProgressTimeout']);
  });

  it('fails the scenario at load, at the field', () => {
    const text = (cluster: string) =>
      `apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\nimages:\n  - ref: demo/app:v1\n    synth: { layers: [1MB] }\nrollouts:\n  - name: app\n    deployment: { image: demo/app:v1 }\ncluster: ${cluster}\n`;
    const paths = (cluster: string): string[] => {
      try {
        parseScenario(text(cluster), 's.yaml');
        return [];
      } catch (err) {
        if (!isPullbenchError(err)) throw err;
        return ((err.details.problems ?? []) as ScenarioProblem[]).map((p) => p.path);
      }
    };
    expect(paths('{ driver: kubeconfig, kubelet: { registryPullQPS: 10, maxConcurrentDownloads: 2 } }')).toEqual(['cluster.kubelet.registryPullQPS', 'cluster.kubelet.maxConcurrentDownloads']);
    expect(paths('{ driver: k3s, nodes: 1, kubelet: { maxConcurrentDownloads: 2 } }')).toEqual(['cluster.kubelet.maxConcurrentDownloads']);
    expect(paths('{ driver: k3s, nodes: 1, kubelet: { imagePullProgressTimeout: 2m } }')).toEqual(['cluster.kubelet.imagePullProgressTimeout']);
    expect(paths('{ driver: kind, kubelet: { imagePullProgressTimeout: 2m } }').filter((p) => p.startsWith('cluster.kubelet'))).toEqual([]);
    expect(paths('{ driver: kind, kubelet: { maxConcurrentDownloads: 2, registryBurst: 30 } }').filter((p) => p.startsWith('cluster.kubelet'))).toEqual([]);
  });

  it('fails a library caller before any cluster starts', async () => {
    await expect(startRealCluster({ driver: 'kubeconfig', nodes: 1, kubeconfig: '/nonexistent', kubelet: { registryBurst: 40 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { fields: ['registryBurst'] },
    });
  });
});

describe("a node's effective kubelet settings from its /configz", () => {
  it('reads the image-pull fields and the KEP-2535 gate, and nothing else', () => {
    expect(
      kubeletSettingsFromConfigz({ kubeletconfig: { serializeImagePulls: true, registryPullQPS: 5, registryBurst: 10, maxPods: 110, featureGates: { KubeletEnsureSecretPulledImages: false } } }),
    ).toEqual({ 'kubelet.serializeImagePulls': 'true', 'kubelet.registryPullQPS': '5', 'kubelet.registryBurst': '10', 'kubelet.ensureSecretPulledImages': 'false' });
    expect(kubeletSettingsFromConfigz({ kind: 'Status' })).toEqual({});
  });
});
