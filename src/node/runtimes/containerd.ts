import { startContainerd, type ContainerdOptions, type StartedContainerd } from '../containerd/daemon.js';
import { CriImageClient, type CriImage } from '../cri/client.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats, SandboxConfig } from '../runtime.js';

/** Driver for the Runtime port: a real containerd per node, driven over its CRI socket. */
export class ContainerdRuntime implements Runtime {
  readonly name = 'containerd';
  private readonly counters = { pulls: 0, failedPulls: 0 };

  private constructor(
    readonly daemon: StartedContainerd,
    private readonly client: CriImageClient,
    private readonly pullTimeoutMs: number,
    private readonly ownsDaemon: boolean,
  ) {}

  /** Starts a containerd of its own (see startContainerd) and connects to its CRI socket. */
  static async start(opts: ContainerdOptions & { pullTimeoutMs?: number }): Promise<ContainerdRuntime> {
    const daemon = await startContainerd(opts);
    return new ContainerdRuntime(daemon, new CriImageClient(daemon.socket), opts.pullTimeoutMs ?? 600_000, true);
  }

  /** Drives a containerd started elsewhere; disposing the runtime leaves the daemon running. */
  static attach(daemon: StartedContainerd, pullTimeoutMs = 600_000): ContainerdRuntime {
    return new ContainerdRuntime(daemon, new CriImageClient(daemon.socket), pullTimeoutMs, false);
  }

  /**
   * Pulls the node's sandbox image, as the CRI plugin does before a node's first pod (see containerd/sandbox.ts):
   * not a pod's pull, so in no count of this runtime.
   */
  async pullSandboxImage(image: string): Promise<void> {
    await this.client.pullImage({ image: { image } }, this.pullTimeoutMs);
  }

  async pullImage(image: string, auth?: PullAuth, sandbox?: SandboxConfig): Promise<string> {
    const req = {
      image: { image },
      ...(auth ? { auth: { username: auth.username, password: auth.password } } : {}),
      ...(sandbox ? { sandboxConfig: { metadata: { name: sandbox.name, namespace: sandbox.namespace, uid: sandbox.uid } } } : {}),
    };
    try {
      const res = await this.client.pullImage(req, this.pullTimeoutMs);
      this.counters.pulls++;
      return res.imageRef;
    } catch (err) {
      this.counters.failedPulls++;
      throw err;
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const res = await this.client.imageStatus(image);
    return res.image && res.image.id ? toInfo(res.image) : undefined;
  }

  async removeImage(image: string): Promise<void> {
    await this.client.removeImage(image);
  }

  async listImages(): Promise<ImageInfo[]> {
    return (await this.client.listImages()).images.map(toInfo);
  }

  stats(): RuntimeStats {
    return { ...this.counters };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.client.close();
    if (this.ownsDaemon) await this.daemon.stop();
  }
}

function toInfo(img: CriImage): ImageInfo {
  return { id: img.id, size: Number(img.size), repoTags: img.repoTags, repoDigests: img.repoDigests };
}
