import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PullbenchError } from '../../errors.js';

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: string;
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Unary<Req, Res> = (req: Req, opts: grpc.CallOptions, cb: Callback<Res>) => void;

interface ImageServiceStub extends grpc.Client {
  PullImage: Unary<object, { imageRef: string }>;
  ImageStatus: Unary<object, { image: CriImage | null }>;
  RemoveImage: Unary<object, object>;
  ListImages: Unary<object, { images: CriImage[] }>;
}

// Found next to this module (src via tsx, or dist when the build copies it), else in the package's src.
function protoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'api.proto'), join(here, '..', '..', '..', 'src', 'node', 'cri', 'api.proto')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new PullbenchError('INTERNAL', `CRI api.proto not found (looked in ${candidates.join(', ')})`);
  return found;
}

let serviceCtor: grpc.ServiceClientConstructor | undefined;

function imageServiceCtor(): grpc.ServiceClientConstructor {
  if (serviceCtor) return serviceCtor;
  const def = protoLoader.loadSync(protoPath(), { keepCase: false, longs: String, defaults: true, arrays: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { ImageService: grpc.ServiceClientConstructor } } };
  serviceCtor = pkg.runtime.v1.ImageService;
  return serviceCtor;
}

/** A CRI `runtime.v1.ImageService` client over a unix socket. */
export class CriImageClient {
  private readonly stub: ImageServiceStub;

  constructor(socket: string) {
    const Ctor = imageServiceCtor();
    this.stub = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    }) as unknown as ImageServiceStub;
  }

  pullImage(req: object, timeoutMs: number): Promise<{ imageRef: string }> {
    return this.call('PullImage', req, timeoutMs);
  }

  imageStatus(image: string): Promise<{ image: CriImage | null }> {
    return this.call('ImageStatus', { image: { image } }, 30_000);
  }

  removeImage(image: string): Promise<object> {
    return this.call('RemoveImage', { image: { image } }, 60_000);
  }

  listImages(): Promise<{ images: CriImage[] }> {
    return this.call('ListImages', {}, 30_000);
  }

  close(): void {
    this.stub.close();
  }

  private call<K extends 'PullImage' | 'ImageStatus' | 'RemoveImage' | 'ListImages'>(
    method: K,
    req: object,
    timeoutMs: number,
  ): Promise<Parameters<Parameters<ImageServiceStub[K]>[2]>[1]> {
    return new Promise((resolve, reject) => {
      const fn = this.stub[method] as Unary<object, Parameters<Parameters<ImageServiceStub[K]>[2]>[1]>;
      fn.call(this.stub, req, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) {
          // grpc-go renders errors as `rpc error: code = X desc = ...`; kubelet's messages carry that text.
          const code = grpc.status[err.code] ?? String(err.code);
          reject(
            new PullbenchError('RUNTIME_ERROR', `rpc error: code = ${pascal(code)} desc = ${err.details}`, {
              cause: err,
              details: { method, grpcCode: err.code },
            }),
          );
        } else resolve(res);
      });
    });
  }
}

function pascal(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
