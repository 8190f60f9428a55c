import { RegistryClient } from '../../oci/client.js';
import { pushSynthImage } from '../../oci/synth.js';
import { startRegistryServer } from '../../registry/server.js';

/**
 * Where emulated containerd nodes get their sandbox (pause) image from before the rollout: a registry of its own,
 * in memory, holding one small image. A real node's containerd has pulled its sandbox image before it pulls any
 * pod's image: kubelet creates a pod's sandbox first (kuberuntime_manager.go: SyncPod, createPodSandbox before the
 * containers' EnsureImageExists), and the CRI plugin pulls `sandbox_image` when it is missing (containerd 1.6
 * pkg/cri/server/sandbox_run.go: RunPodSandbox -> ensureImageExists). A containerd started for one repetition
 * pulled nothing yet: its first pull paid its own start-up (measured 2026-12-07, 10 MB on 1 node: 165-224 ms
 * for the first image of a fresh containerd, 144-151 ms for the next one), a cost no node of a running cluster
 * pays in a rollout. Its requests go to this registry, not to the scenario's: they are in no count.
 */
export interface SandboxImageSource extends AsyncDisposable {
  /** `127.0.0.1:PORT`: the host a node's certs.d needs an entry for. */
  readonly host: string;
  /** The image reference to pull. */
  readonly ref: string;
  /** The hosts.toml for `host` (plain HTTP). */
  readonly hostsToml: string;
  close(): Promise<void>;
}

export const SANDBOX_REPOSITORY = 'pause';
export const SANDBOX_TAG = '3.10';

export async function startSandboxImageSource(): Promise<SandboxImageSource> {
  const registry = await startRegistryServer({ storage: 'memory' });
  try {
    await using client = new RegistryClient({ baseUrl: registry.url });
    // One layer of about the size of registry.k8s.io/pause:3.10's (~320 kB). Without the synthesised images' shared
    // /pause layer: a node that held that blob already would skip it in the scenario's pulls, which a real pause image
    // shares with no application image.
    await pushSynthImage(client, SANDBOX_REPOSITORY, SANDBOX_TAG, { layers: [300 * 1024], seed: 'pullbench-sandbox', entrypoint: false });
  } catch (err) {
    await registry.close();
    throw err;
  }
  const close = (): Promise<void> => registry.close();
  return {
    host: registry.host,
    ref: `${registry.host}/${SANDBOX_REPOSITORY}:${SANDBOX_TAG}`,
    hostsToml: `server = "http://${registry.host}"\n`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
