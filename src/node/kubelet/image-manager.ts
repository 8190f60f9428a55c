import { createHash } from 'node:crypto';
import type { ContainerWaitingReason, EventType } from '../../core/events.js';
import { PullbenchError, isPullbenchError } from '../../errors.js';
import type { Clock } from '../../core/clock.js';
import { pullWithCredentials } from '../../oci/credentials.js';
import type { PullAuth, Runtime, SandboxConfig } from '../runtime.js';
import { Backoff } from './backoff.js';
import { formatGoDuration } from './duration.js';
import { TokenBucket } from './limiter.js';
import { applyDefaultImageTag, shouldPullImage, type PullPolicy } from './policy.js';
import { kubeletProfile, type KubeletProfile } from '../profiles.js';
import { TaskQueue } from '../../util/task-queue.js';
import { effectiveImagePullSettings, type EffectiveImagePullSettings, type KubeletImagePullSettings } from './config.js';

/** The kubelet configuration fields that govern image pulls (KubeletConfiguration names), defaulted as kubelet does. */
export interface ImagePullConfig extends KubeletImagePullSettings {
  /**
   * KEP-2535: an image pulled with credentials is only reused (IfNotPresent) by
   * pods that present the same credentials; others must pull with their own.
   * kubelet's feature gate KubeletEnsureSecretPulledImages. Default false.
   */
  ensureSecretPulledImages?: boolean;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** The kubelet release whose behaviour and texts to follow (default DEFAULT_KUBERNETES_VERSION). */
  kubelet?: KubeletProfile;
}

export interface ContainerImageSpec {
  name: string;
  image: string;
  imagePullPolicy: PullPolicy;
}

export type EnsureResult =
  | { ok: true; imageRef: string }
  | { ok: false; reason: ContainerWaitingReason | 'ImageInspectError'; message: string };

export type RecordEvent = (type: EventType, reason: string, message: string) => void;

const ANONYMOUS = 'anonymous';

/**
 * kubelet's image manager (pkg/kubelet/images): pull policy, backoff per
 * pod+image, the puller queue, the registry QPS limiter, and the events it
 * records, with kubelet's reasons and messages.
 */
export class ImageManager {
  private readonly backoff: Backoff;
  private readonly limiter: TokenBucket | undefined;
  readonly queue: TaskQueue;
  // image id -> credential fingerprints that pulled it (never the secrets themselves)
  private readonly pulledWith = new Map<string, Set<string>>();
  // backoff key -> `ErrImagePull: <error>` of the last failed pull (kubelet 1.32+ prevPullErrMsg)
  private readonly prevPullError = new Map<string, string>();
  readonly profile: KubeletProfile;
  /** The image-pull settings after kubelet's defaulting, as this node runs with them. */
  readonly settings: EffectiveImagePullSettings;

  constructor(
    private readonly runtime: Runtime,
    private readonly clock: Clock,
    private readonly config: ImagePullConfig = {},
  ) {
    this.profile = config.kubelet ?? kubeletProfile();
    if (config.ensureSecretPulledImages && !this.profile.ensureSecretPulledImages) {
      throw new PullbenchError('INVALID_ARGUMENT', `ensureSecretPulledImages (KEP-2535) needs kubelet 1.33 or later; this node models ${this.profile.version}`);
    }
    const settings = (this.settings = effectiveImagePullSettings(config));
    this.queue = new TaskQueue(settings.serializeImagePulls ? 1 : (settings.maxParallelImagePulls ?? Infinity));
    this.limiter = settings.registryPullQPS > 0 ? new TokenBucket(clock, settings.registryPullQPS, settings.registryBurst) : undefined;
    this.backoff = new Backoff(clock, config.backoffInitialMs ?? 10_000, config.backoffMaxMs ?? 300_000);
  }

  /** Current backoff for a pod's image, in ms (0 when none). */
  backoffFor(podUid: string, image: string): number {
    return this.backoff.get(`${podUid}_${image}`);
  }

  /** EnsureImageExists: returns the image ref, or the waiting reason and message for the container. */
  async ensureImageExists(
    podUid: string,
    container: ContainerImageSpec,
    pullCredentials: PullAuth[] | (() => PullAuth[]),
    record: RecordEvent,
    sandbox?: SandboxConfig,
  ): Promise<EnsureResult> {
    const image = container.image;
    let spec: string;
    try {
      spec = applyDefaultImageTag(image);
    } catch (err) {
      if (!isPullbenchError(err, 'INVALID_IMAGE_NAME')) throw err;
      // kubelet's applyDefaultImageTag wraps the reference parser's own error (distribution/reference's text).
      const why = (err.details as { reason?: string } | undefined)?.reason ?? 'invalid reference format';
      const msg = `Failed to apply default image tag ${q(image)}: couldn't parse image name ${q(image)}: ${why}`;
      record('Warning', 'InspectFailed', msg);
      return { ok: false, reason: 'InvalidImageName', message: msg };
    }
    // The keyring is looked up by the image's repository, so only once the name parsed (kubelet looks it up inside
    // PullImage, after applyDefaultImageTag): an invalid name with pull secrets is InvalidImageName, not a throw.
    const credentials = typeof pullCredentials === 'function' ? pullCredentials() : pullCredentials;

    let imageRef = '';
    // From 1.32 Always goes straight to the pull (imagePullPrecheck); before, every policy asked the runtime first.
    if (container.imagePullPolicy !== 'Always' || !this.profile.alwaysSkipsImageStatus) {
      try {
        imageRef = (await this.runtime.imageStatus(spec))?.id ?? '';
      } catch (err) {
        // 1.32+ prints the ref GetImageRef returned, empty on error.
        const named = this.profile.inspectFailedNamesImageRef ? '' : image;
        const msg = `Failed to inspect image ${q(named)}: ${(err as Error).message}`;
        record('Warning', 'InspectFailed', msg);
        return { ok: false, reason: 'ImageInspectError', message: msg };
      }
    }
    const present = imageRef !== '';
    const gated = this.config.ensureSecretPulledImages === true;
    // With KEP-2535 on, a present image pulled with credentials this pod lacks counts as absent.
    const accessible = present && (!gated || this.mayReuse(imageRef, credentials));

    if (!shouldPullImage(container.imagePullPolicy, accessible)) {
      // An image present but not accessible to the pod reads as absent (imageNotPresentOnNeverPolicyError, 1.33+).
      if (present && accessible) {
        const suffix = gated ? ' and can be accessed by the pod' : '';
        record('Normal', 'Pulled', `Container image ${q(image)} already present on machine${suffix}`);
        return { ok: true, imageRef };
      }
      const msg = `Container image ${q(image)} is not present with pull policy of Never`;
      record('Warning', 'ErrImageNeverPull', msg);
      return { ok: false, reason: 'ErrImageNeverPull', message: msg };
    }

    const backOffKey = `${podUid}_${image}`;
    if (this.backoff.isInBackOffSinceUpdate(backOffKey)) {
      const msg = `Back-off pulling image ${q(image)}`;
      record('Normal', 'BackOff', msg);
      // 1.32+: the waiting message (not the event) carries the error of the pull that started the back-off.
      const previous = this.profile.backOffCarriesPreviousError ? this.prevPullError.get(backOffKey) : undefined;
      return { ok: false, reason: 'ImagePullBackOff', message: previous ? `${msg}: ${previous}` : msg };
    }
    this.prevPullError.delete(backOffKey);

    record('Normal', 'Pulling', `Pulling image ${q(image)}`);
    const started = this.clock.now();
    const result = await this.queue.run(() => this.pull(spec, credentials, sandbox));
    if (!result.ok) {
      record('Warning', 'Failed', `Failed to pull image ${q(image)}: ${result.error}`);
      this.backoff.next(backOffKey);
      this.prevPullError.set(backOffKey, `ErrImagePull: ${result.error}`);
      return { ok: false, reason: 'ErrImagePull', message: result.error };
    }
    const total = this.clock.now() - started;
    record(
      'Normal',
      'Pulled',
      `Successfully pulled image ${q(image)} in ${formatGoDuration(result.pullMs)} (${formatGoDuration(total)} including waiting). Image size: ${result.size} bytes.`,
    );
    this.backoff.gc();
    return { ok: true, imageRef: result.imageRef };
  }

  // The puller. The QPS limiter admits the whole PullImage call (images/helpers.go: throttledImageService.PullImage
  // wraps kubeGenericRuntimeManager.PullImage), whose credential loop is pullWithCredentials.
  private async pull(
    spec: string,
    credentials: PullAuth[],
    sandbox?: SandboxConfig,
  ): Promise<{ ok: true; imageRef: string; size: number; pullMs: number } | { ok: false; error: string }> {
    if (this.limiter && !this.limiter.tryAccept()) return { ok: false, error: 'pull QPS exceeded' };
    const started = this.clock.now();
    try {
      const { imageRef, auth } = await pullWithCredentials(credentials, async (auth) => ({ imageRef: await this.runtime.pullImage(spec, auth, sandbox), auth }));
      const pullMs = this.clock.now() - started;
      const size = (await this.runtime.imageStatus(imageRef))?.size ?? (await this.runtime.imageStatus(spec))?.size ?? 0;
      this.remember(imageRef, auth);
      return { ok: true, imageRef, size, pullMs };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private remember(imageRef: string, auth: PullAuth | undefined): void {
    const set = this.pulledWith.get(imageRef) ?? new Set<string>();
    set.add(fingerprint(auth));
    this.pulledWith.set(imageRef, set);
  }

  private mayReuse(imageRef: string, credentials: PullAuth[]): boolean {
    const set = this.pulledWith.get(imageRef);
    // Images the kubelet did not pull (preloaded) are not tracked: treat as accessible.
    if (!set || set.has(ANONYMOUS)) return true;
    return credentials.some((c) => set.has(fingerprint(c)));
  }
}

function fingerprint(auth: PullAuth | undefined): string {
  if (!auth) return ANONYMOUS;
  return createHash('sha256').update(`${auth.username}\0${auth.password}`).digest('hex');
}

/** Go's %q for the plain strings kubelet quotes. */
function q(s: string): string {
  return JSON.stringify(s);
}
