import type { Server } from 'node:http';

/**
 * HTTP servers of this thread by the `host:port` they listen on (the embedded registry and mirror register here).
 * A shaped proxy in front of one hands its connections to the server itself, shaped on the way, instead of relaying
 * them through a second TCP connection (see proxy.ts).
 */
const servers = new Map<string, Server>();

/** Registers `server` as listening on `hostPort` in this thread; the function removes it. */
export function registerLocalServer(hostPort: string, server: Server): () => void {
  servers.set(hostPort, server);
  return () => {
    if (servers.get(hostPort) === server) servers.delete(hostPort);
  };
}

/** The server of this thread listening on `hostPort`, if one registered and it still listens. */
export function localServer(hostPort: string): Server | undefined {
  const s = servers.get(hostPort);
  return s?.listening ? s : undefined;
}
