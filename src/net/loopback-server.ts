import type { Server, Socket } from 'node:net';
import { PullbenchError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';

/** Listens on 127.0.0.1:0; the port. `what` names the server in the error. */
export async function listenOnLoopback(server: Server, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new PullbenchError('INTERNAL', `${what} could not listen: ${err.message}`, { cause: err })));
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/**
 * The close of a loopback server, once however often it is called, also on the process's clean-up: destroys its
 * open sockets (and whatever `also` releases), then closes the server.
 */
export function closeOnce(what: string, server: Server, sockets: Set<Socket>, also?: () => void): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      unregister();
      for (const s of sockets) s.destroy();
      also?.();
      server.close(() => resolve());
    });
    return closing;
  };
  const unregister = registerCleanup(what, close, { endsWithProcess: true });
  return close;
}
