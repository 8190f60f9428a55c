import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface SeenRequest {
  method: string;
  url: string;
  authorization?: string | undefined;
  accept?: string | undefined;
}

/** A tiny HTTP server for client edge cases; `handle` answers, every request is recorded. */
export interface FakeRegistry extends AsyncDisposable {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
}

export async function startFakeRegistry(handle: FakeRegistry['handle']): Promise<FakeRegistry> {
  const requests: SeenRequest[] = [];
  const fake = { handle } as FakeRegistry;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, accept: req.headers.accept });
      fake.handle(req, res, Buffer.concat(parts));
    });
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  Object.defineProperty(fake, 'connections', { get: () => connections });
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    requests,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
  res.end(bytes);
}
