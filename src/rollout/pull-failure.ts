import { pullCause, TRANSIENT_CAUSES } from '../measure/pull-cause.js';

/**
 * Which pull failures retrying cannot fix within a rollout. kubelet retries every
 * failed pull with back-off for as long as the pod exists (pkg/kubelet/images/
 * image_manager.go, EnsureImageExists -> backOff.Next), so a wrong password costs a
 * whole rollout timeout. A 401, 403 or 404 answered for every credential the pod
 * has will be answered again: the step can end with that cause instead.
 *
 * Reads the message of kubelet's `Failed` event (`Failed to pull image "x": <err>`),
 * as written by containerd, dockerd or the embedded runtime: the shared record.
 */
export interface UnfixableCause {
  /** `unauthorized (401)`, `forbidden (403)`, `not found (404)` */
  cause: string;
  /** The kubelet message it was read from. */
  message: string;
}

// containerd: "unexpected status ... 401 Unauthorized", "pull access denied", "failed to resolve reference ...: not found";
// the embedded runtime: "the token endpoint refused (401)", "authentication required".
const UNFIXABLE: readonly [string, RegExp][] = [
  ['unauthorized (401)', /\b401\b|unauthorized|authentication required/i],
  ['forbidden (403)', /\b403\b|forbidden|denied/i],
  ['not found (404)', /\b404\b|: not found|manifest unknown|name unknown/i],
];

/** The cause when retrying cannot fix this pull error on any credential tried, else undefined. */
export function unfixableCause(message: string): UnfixableCause | undefined {
  // kubelet aggregates one error per credential ("[a, b]"): one transient answer among them and a retry may pass.
  if (TRANSIENT_CAUSES.has(pullCause(message))) return undefined;
  const hit = UNFIXABLE.find(([, re]) => re.test(message));
  return hit ? { cause: hit[0], message } : undefined;
}

const FAILED_PULL = 'Failed to pull image ';

/**
 * Given the kubelet events so far, the cause shared by every one of `pods`, or undefined when some pod
 * has not failed a pull yet or failed with an error a retry may fix.
 */
export function commonUnfixableCause(
  pods: ReadonlySet<string>,
  events: Iterable<{ involvedObject: { uid: string }; reason: string; message: string }>,
): UnfixableCause | undefined {
  const last = new Map<string, string>();
  for (const e of events) {
    if (e.reason === 'Failed' && e.message.startsWith(FAILED_PULL) && pods.has(e.involvedObject.uid)) last.set(e.involvedObject.uid, e.message);
  }
  if (last.size < pods.size) return undefined;
  let first: UnfixableCause | undefined;
  for (const message of last.values()) {
    const c = unfixableCause(message);
    if (!c) return undefined;
    first ??= c;
  }
  return first;
}
