/**
 * The Runtime port: the part of CRI's ImageService that kubelet's image manager
 * uses. Drivers: `EmbeddedRuntime` (in process) and `ContainerdRuntime` (a real
 * containerd over its CRI socket).
 */

import type { BasicCredentials } from '../oci/credentials.js';

/** Credentials for one pull, as kubelet passes a CRI AuthConfig (username/password form). */
export type PullAuth = BasicCredentials;

/** Pod sandbox metadata kubelet sends with PullImage (used for logs and tenancy). */
export interface SandboxConfig {
  name: string;
  namespace: string;
  uid: string;
}

/** What CRI ImageStatus returns about a present image. */
export interface ImageInfo {
  /** Image id: the config digest (`sha256:...`), as containerd's CRI reports it. */
  id: string;
  /** Bytes, as CRI reports `size` (containerd: the image's content size, see runtimes/embedded.ts). */
  size: number;
  repoTags: string[];
  repoDigests: string[];
}

export interface RuntimeStats {
  pulls: number;
  failedPulls: number;
  /** Bytes fetched from registries (only where the runtime can observe it). */
  bytesDownloaded?: number;
  /** HTTP requests made to registries (only where the runtime can observe it). */
  requests?: number;
  /** Synced metadata transactions (the embedded runtime's stand-in for containerd's bbolt commits). */
  metadataCommits?: number;
  /** Bytes its shaped links carried down, by route name (a runtime that shapes its own connections). */
  linkBytesDown?: Record<string, number>;
}

export interface Runtime extends AsyncDisposable {
  /** `embedded` or `containerd`. */
  readonly name: string;
  /** Pulls `image` and returns the image ref (the image id). Errors are PullbenchError. */
  pullImage(image: string, auth?: PullAuth, sandbox?: SandboxConfig): Promise<string>;
  /** The image if present on the node, else undefined (never an error for absence). */
  imageStatus(image: string): Promise<ImageInfo | undefined>;
  /** Removes the image (by reference or id); removing an absent image is not an error. */
  removeImage(image: string): Promise<void>;
  listImages(): Promise<ImageInfo[]>;
  stats(): RuntimeStats;
}
