/**
 * Version profiles: what kubelet and containerd do differently from one
 * release to the next, in the parts pullbench emulates. Each field names the
 * upstream file and function it follows and the release that changed it.
 */
import { PullbenchError } from '../errors.js';

/** Kubernetes minor releases whose kubelet image-pull behaviour is modelled, oldest first. */
export const KUBERNETES_VERSIONS = ['1.31', '1.32', '1.33', '1.34', '1.35'] as const;
export type KubernetesVersion = (typeof KUBERNETES_VERSIONS)[number];
/** The newest modelled release (Kubernetes 1.35, December 2025). */
export const DEFAULT_KUBERNETES_VERSION: KubernetesVersion = '1.35';

/** containerd minor releases whose pull behaviour is modelled, oldest first. */
export const CONTAINERD_VERSIONS = ['1.7', '2.0', '2.1'] as const;
export type ContainerdVersion = (typeof CONTAINERD_VERSIONS)[number];
/** The newest modelled release (containerd 2.1, May 2025). */
export const DEFAULT_CONTAINERD_VERSION: ContainerdVersion = '2.1';

/** containerd CRI's max_concurrent_downloads when its config sets none (pkg/cri/config DefaultConfig in 1.7; internal/cri/config in 2.x). */
export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3;

export interface KubeletProfile {
  version: KubernetesVersion;
  /**
   * Always pulls without asking the runtime for the image first. pkg/kubelet/images/image_manager.go
   * imagePullPrecheck returns at once for PullAlways (kubernetes#126550, 1.32); before, EnsureImageExists called
   * GetImageRef (CRI ImageStatus) for every policy.
   */
  alwaysSkipsImageStatus: boolean;
  /**
   * The InspectFailed text names the image ref GetImageRef returned, which is empty on error: `Failed to inspect
   * image "": <err>` (imagePullPrecheck, 1.32); before, the container's image.
   */
  inspectFailedNamesImageRef: boolean;
  /**
   * The ImagePullBackOff waiting message carries the previous pull's error, `Back-off pulling image "x":
   * ErrImagePull: <error>` (image_manager.go pullImage, prevPullErrMsg, kubernetes#127918, 1.32); the BackOff
   * event keeps the short text.
   */
  backOffCarriesPreviousError: boolean;
  /**
   * KEP-2535 (feature gate KubeletEnsureSecretPulledImages, alpha in 1.33): absent before. With Never, an image
   * present but not accessible to the pod reads as absent (imageNotPresentOnNeverPolicyError).
   */
  ensureSecretPulledImages: boolean;
  /**
   * The container lifecycle events of pkg/kubelet/kuberuntime/kuberuntime_container.go startContainer:
   * `Created container: c` / `Started container c` until 1.34, `Container created` / `Container started` from
   * 1.35 (kubernetes#134043).
   */
  containerEvents: 'named' | 'plain';
}

export interface ContainerdProfile {
  version: ContainerdVersion;
  /**
   * What max_concurrent_downloads bounds. 1.7 and 2.0: each CRI pull goes through client.Pull (pull.go /
   * client/pull.go Pull), which makes a semaphore of its own (`semaphore.NewWeighted(MaxConcurrentDownloads)`):
   * the limit is per pull. 2.1: CRI pulls through the transfer service, whose limiter is made once
   * (core/transfer/local/transfer.go NewTransferService, limiterD) and taken on each fetch
   * (core/remotes/docker/resolver.go dockerBase.Acquire): the limit is node-wide.
   */
  downloadLimit: 'per-pull' | 'node';
  /**
   * core/remotes/docker/resolver.go request.retryRequest: 2.1 retries a 500, 503 or 504 on the last host once
   * (not when the response before it had the same status); 1.7 and 2.0 never retry a 5xx.
   */
  retriesServerErrorsOnLastHost: boolean;
  /**
   * What image_pull_progress_timeout watches (see PullProgress). 1.7 and 2.0: every request of the pull's
   * http.Client, from its send until its body is closed (pkg/cri/server/image_pull.go in 1.7,
   * internal/cri/server/images/image_pull.go in 2.0: pullRequestReporterRoundTripper), so a request held before
   * its answer is cancelled too. 2.1: the transfer service's progress events (internal/cri/server/images/image_pull.go
   * pullImageWithTransferService, transferProgressReporter.handleProgress), where a fetch counts only once bytes of it
   * arrived: a request held before any byte (a resolve, a layer not started) is never cancelled.
   */
  progressTracking: 'requests' | 'downloads';
}

function minorOf(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:[.+-].*)?$/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function pick<V extends string>(known: readonly V[], version: string, what: string, clamp: boolean): V {
  const exact = known.find((v) => v === version);
  if (exact) return exact;
  const mm = minorOf(version);
  if (!mm) throw new PullbenchError('INVALID_ARGUMENT', `${what} ${JSON.stringify(version)} is not a version (expected e.g. ${known.at(-1)})`);
  const key = `${mm[0]}.${mm[1]}`;
  const found = known.find((v) => v === key);
  if (found) return found;
  if (!clamp) throw new PullbenchError('INVALID_ARGUMENT', `${what} ${key} is not modelled; choose one of ${known.join(', ')}`);
  const rank = (v: string): number => {
    const [a, b] = minorOf(v)!;
    return a * 1000 + b;
  };
  const r = mm[0] * 1000 + mm[1];
  return r < rank(known[0]!) ? known[0]! : known.at(-1)!;
}

/** The kubelet profile of a release (`1.33`, `v1.33.2`); a release outside the modelled range fails unless `clamp`, which takes the nearest one. */
export function kubeletProfile(version: string = DEFAULT_KUBERNETES_VERSION, clamp = false): KubeletProfile {
  const v = pick(KUBERNETES_VERSIONS, version, 'kubernetesVersion', clamp);
  const from = (since: KubernetesVersion): boolean => KUBERNETES_VERSIONS.indexOf(v) >= KUBERNETES_VERSIONS.indexOf(since);
  return {
    version: v,
    alwaysSkipsImageStatus: from('1.32'),
    inspectFailedNamesImageRef: from('1.32'),
    backOffCarriesPreviousError: from('1.32'),
    ensureSecretPulledImages: from('1.33'),
    containerEvents: from('1.35') ? 'plain' : 'named',
  };
}

/** The containerd profile of a release (`2.0`, `v2.0.5`, `containerd://1.7.18`); see kubeletProfile for `clamp`. */
export function containerdProfile(version: string = DEFAULT_CONTAINERD_VERSION, clamp = false): ContainerdProfile {
  const v = pick(CONTAINERD_VERSIONS, version.replace(/^containerd:\/\//, ''), 'containerdVersion', clamp);
  const from21 = v === '2.1';
  return {
    version: v,
    downloadLimit: from21 ? 'node' : 'per-pull',
    retriesServerErrorsOnLastHost: from21,
    progressTracking: from21 ? 'downloads' : 'requests',
  };
}

/** The Created / Started event messages of a container, as the profile's kubelet writes them. */
export function containerEventMessages(profile: KubeletProfile, container: string): { created: string; started: string } {
  return profile.containerEvents === 'plain'
    ? { created: 'Container created', started: 'Container started' }
    : { created: `Created container: ${container}`, started: `Started container ${container}` };
}
