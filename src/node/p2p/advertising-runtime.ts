import { parseReference } from '../../oci/reference.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats, SandboxConfig } from '../runtime.js';

/**
 * A node's runtime as its P2P agent sees it: each image it creates is reported (containerd's /images/create event,
 * which Spegel turns into an advertisement of the image's tag: pkg/oci/containerd/containerd.go: handleEvent).
 */
export class AdvertisingRuntime implements Runtime {
  constructor(
    private readonly inner: Runtime,
    private readonly created: (registry: string, name: string, tag: string, manifestDigest: string) => void,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  async pullImage(image: string, auth?: PullAuth, sandbox?: SandboxConfig): Promise<string> {
    const id = await this.inner.pullImage(image, auth, sandbox);
    const ref = parseReference(image);
    const info = await this.inner.imageStatus(image);
    const digest = info?.repoDigests.map((d) => d.slice(d.lastIndexOf('@') + 1)).find((d) => d.startsWith('sha256:'));
    if (digest && ref.tag) this.created(ref.domain, ref.path, ref.tag, digest);
    return id;
  }

  imageStatus(image: string): Promise<ImageInfo | undefined> {
    return this.inner.imageStatus(image);
  }

  removeImage(image: string): Promise<void> {
    return this.inner.removeImage(image);
  }

  listImages(): Promise<ImageInfo[]> {
    return this.inner.listImages();
  }

  stats(): RuntimeStats {
    return this.inner.stats();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.inner[Symbol.asyncDispose]();
  }
}
