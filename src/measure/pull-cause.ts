/**
 * Why a pull attempt failed, read from the message of kubelet's `Failed` event (`Failed to pull image "x": <err>`)
 * as containerd, dockerd or the embedded runtime wrote it: the shared record, the same parser for every cluster.
 *
 * The texts are containerd's (core/remotes/docker/resolver.go and fetcher.go: `unexpected status from GET request
 * to URL: 503 Service Unavailable`, `failed to resolve reference "x": x: not found`, `pull access denied`;
 * content/local/writer.go Commit: `unexpected commit digest`), Go's net errors (`connection refused`,
 * `connection reset by peer`, `i/o timeout`, `context deadline exceeded`, `unexpected EOF`), kubelet's own
 * (`pull QPS exceeded`, pkg/kubelet/images/puller.go) and the embedded runtime's (`HTTP 503`, `ECONNRESET`).
 */
export const PULL_CAUSES = ['auth', 'notFound', 'rateLimited', 'serverError', 'timeout', 'resetOrRefused', 'digestMismatch', 'other'] as const;
export type PullCause = (typeof PULL_CAUSES)[number];

// First match wins: a content check beats the network error it caused, a status beats the words around it.
const RULES: readonly [PullCause, RegExp][] = [
  ['digestMismatch', /digest mismatch|unexpected commit (digest|size)|content has digest|wrong diff id|does not match: got \d+ bytes/i],
  ['rateLimited', /\b429\b|too many requests|toomanyrequests|QPS exceeded/i],
  ['serverError', /\b5\d\d\b|service unavailable|internal server error|bad gateway/i],
  // containerd cancels a pull with no progress for image_pull_progress_timeout (`code = Canceled desc = ...: context
  // canceled`, pkg/cri/server/image_pull.go pullProgressReporter in 1.7; internal/cri/server/images/ in 2.x).
  ['timeout', /timeout|timed out|deadline exceeded|no answer from|code = Canceled|context canceled/i],
  ['resetOrRefused', /ECONNRESET|ECONNREFUSED|EPIPE|connection refused|connection reset|reset by peer|unexpected EOF|\bEOF\b|connection lost|socket hang up|cannot reach/i],
  ['auth', /\b40[13]\b|unauthorized|forbidden|authentication required|access denied|token endpoint refused|authorization failed/i],
  ['notFound', /\b404\b|: not found|manifest unknown|name unknown|blob unknown/i],
];

// Addresses and digests carry digits that read like statuses (127.0.0.1:40135, sha256:...503...): gone before matching.
const NOISE = /\b\d{1,3}(\.\d{1,3}){3}(:\d+)?|\[[0-9a-f:]+\](:\d+)?|\b[a-z0-9.-]+:\d{2,5}\b|sha256:[0-9a-f]+/gi;

/** The cause of one failed pull attempt, from its kubelet message. */
export function pullCause(message: string): PullCause {
  const text = message.replace(NOISE, ' ');
  return RULES.find(([, re]) => re.test(text))?.[0] ?? 'other';
}

/** Causes a later attempt may not meet again (the server, the network, a limit): kubelet's back-off can outlast them. */
export const TRANSIENT_CAUSES: ReadonlySet<PullCause> = new Set(['rateLimited', 'serverError', 'timeout', 'resetOrRefused']);
