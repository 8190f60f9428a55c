import { PullbenchError } from '../../errors.js';

/** The KubeletConfiguration fields that govern image pulls, as a config file writes them (any may be left out). */
export interface KubeletImagePullSettings {
  /** Pull one image at a time per node. Unset: true, unless maxParallelImagePulls is 2 or more. */
  serializeImagePulls?: boolean | undefined;
  /** With serializeImagePulls false: at most this many pulls at once (unset: no limit). */
  maxParallelImagePulls?: number | undefined;
  /** Pulls per second across the node; 0 = no limit. Unset: 5. */
  registryPullQPS?: number | undefined;
  /** Burst for registryPullQPS. Unset or 0: 10. */
  registryBurst?: number | undefined;
}

/** The same fields after kubelet's defaulting: what the kubelet runs with. */
export interface EffectiveImagePullSettings {
  serializeImagePulls: boolean;
  maxParallelImagePulls?: number;
  registryPullQPS: number;
  registryBurst: number;
}

/**
 * kubelet's defaulting of a KubeletConfiguration v1beta1, for the image-pull fields
 * (pkg/kubelet/apis/config/v1beta1/defaults.go SetDefaults_KubeletConfiguration, the same in 1.31-1.35):
 * serializeImagePulls unset is true, or false when maxParallelImagePulls is 2 or more; registryPullQPS unset is 5
 * (0 stays 0: no limit); registryBurst 0 (or unset) is 10. Then validated as kubelet does at start-up
 * (pkg/kubelet/apis/config/validation/validation.go ValidateKubeletConfiguration), every problem at once.
 */
export function effectiveImagePullSettings(c: KubeletImagePullSettings): EffectiveImagePullSettings {
  const parallel = c.maxParallelImagePulls;
  const serializeImagePulls = c.serializeImagePulls ?? !(parallel !== undefined && parallel >= 2);
  const effective: EffectiveImagePullSettings = {
    serializeImagePulls,
    ...(parallel !== undefined ? { maxParallelImagePulls: parallel } : {}),
    registryPullQPS: c.registryPullQPS ?? 5,
    registryBurst: c.registryBurst === undefined || c.registryBurst === 0 ? 10 : c.registryBurst,
  };
  const problems: string[] = [];
  if (effective.registryBurst < 0) problems.push(`registryBurst (--registry-burst) ${effective.registryBurst} must not be a negative number`);
  if (effective.registryPullQPS < 0) problems.push(`registryPullQPS (--registry-qps) ${effective.registryPullQPS} must not be a negative number`);
  if (parallel !== undefined && !(parallel >= 1)) problems.push(`maxParallelImagePulls ${parallel} must be a positive number`);
  if (serializeImagePulls && parallel !== undefined && parallel > 1) {
    problems.push('maxParallelImagePulls cannot be larger than 1 unless SerializeImagePulls (--serialize-image-pulls) is set to false');
  }
  if (problems.length > 0) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid kubelet configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  return effective;
}
