/** The emulated node: kubelet image-pull semantics over a Runtime, and the two runtimes. */
import { PullbenchError } from '../errors.js';
import type { Runtime } from './runtime.js';
import { ContainerdRuntime } from './runtimes/containerd.js';
import { EmbeddedRuntime, type EmbeddedRuntimeOptions } from './runtimes/embedded.js';

export { EmulatedNode, type NodeOptions, type PodSpec, type PodStatus, type ContainerSpec, type ContainerStatus, type CredentialSource } from './kubelet.js';
export { ImageManager, type ImagePullConfig } from './kubelet/image-manager.js';
export { defaultPullPolicy, type PullPolicy } from './kubelet/policy.js';
export { formatGoDuration } from './kubelet/duration.js';
export { realClock, ManualClock, type Clock } from '../core/clock.js';
export type { Runtime, ImageInfo, PullAuth, RuntimeStats, SandboxConfig } from './runtime.js';
export { EmbeddedRuntime, type EmbeddedRuntimeOptions } from './runtimes/embedded.js';
export { ContainerdRuntime } from './runtimes/containerd.js';
export { startContainerd, type StartedContainerd, type ContainerdOptions } from './containerd/daemon.js';

export type RuntimeKind = 'embedded' | 'containerd';

/** Starts a node's runtime of either kind with the same hosts.toml and download limit. */
export async function startRuntime(kind: RuntimeKind, opts: EmbeddedRuntimeOptions): Promise<Runtime> {
  if (kind === 'embedded') return EmbeddedRuntime.start(opts);
  if (kind === 'containerd') {
    return ContainerdRuntime.start({
      label: opts.label,
      ...(opts.hostsToml ? { hostsToml: opts.hostsToml } : {}),
      ...(opts.maxConcurrentDownloads ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
    });
  }
  throw new PullbenchError('INVALID_ARGUMENT', `unknown runtime ${JSON.stringify(kind)} (expected embedded or containerd)`);
}
