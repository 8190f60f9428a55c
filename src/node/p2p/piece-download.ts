import { TaskQueue } from '../../util/task-queue.js';
import type { P2pFallbacks, PieceOptions } from './options.js';
import type { ParentSelector } from './parent-selector.js';
import type { PieceScheduler, Task } from './piece-scheduler.js';

/** How long a child waits for a piece to appear at its parents before it asks the scheduler again. */
export const PIECE_WAIT_MS = 1000;
/**
 * How long a child goes without anything from its parents before it reschedules them away (dragonfly-client-config
 * src/dfdaemon.rs: download.collected_piece_timeout, default_collected_download_piece_timeout; 10 s in the releases
 * that introduced it, longer in later ones). Without it a child whose parents wait on dead or corrupt peers would
 * wait as long as they do.
 */
const COLLECTED_PIECE_TIMEOUT_MS = 10_000;

/** One peer's download of one task: the scheduler's side, and how this peer reaches the source and its parents. */
export interface PieceDownload {
  node: number;
  opts: PieceOptions;
  scheduler: PieceScheduler;
  /** This dfdaemon's choice of parent for each piece, among those that hold it. */
  selector: ParentSelector;
  fallbacks: P2pFallbacks;
  task: Task;
  /** The pieces this peer has stored (sized here once the task's size is known). */
  local: { have: Uint8Array };
  /** The blob's size as the source gives it (a HEAD); throws when it cannot be had. */
  sourceSize(): Promise<number>;
  /** Fetches piece n from the source (parent undefined) or the parent, checks and stores it, sets have[n], reports it. */
  fetchPiece(n: number, parent: number | undefined): Promise<void>;
  /** Throws when this node's agent was killed (it downloads nothing more). */
  alive(): void;
}

/**
 * A peer's download of one task, as dfdaemon runs it: scheduled, then pieces from the source or from parents,
 * concurrentPieceCount at a time (see DragonflyAgent for the upstream behaviour, with its sources). The live agent and
 * the model's (src/model/dragonfly.ts) both run this loop, each with its own way to fetch a piece.
 */
export async function downloadTask(io: PieceDownload): Promise<void> {
  const { scheduler, task, local } = io;
  const blocklist = new Set<number>();
  let decision = await scheduler.register(task, io.node, blocklist);
  if (!decision.backToSource) io.selector.register(decision.parents);
  // When this peer last got something from its parents (a piece, the size) or new parents.
  let progressAt = scheduler.now();
  const reschedule = async (stalled: number[]): Promise<void> => {
    // ReschedulePeerRequest: the parents that gave nothing go with it and the scheduler blocks them
    // (scheduler/service/service_v2.go: handleReschedulePeerRequest adds its candidate parents to the blocklist).
    for (const p of stalled) blocklist.add(p);
    decision = await scheduler.schedule(task, io.node, blocklist);
    if (!decision.backToSource) io.selector.register(decision.parents);
    progressAt = scheduler.now();
  };
  const stalledFor = (): number => scheduler.now() - progressAt;
  while (task.size === undefined) {
    io.alive();
    if (decision.backToSource) {
      let size: number;
      try {
        size = await io.sourceSize();
      } catch (err) {
        scheduler.failed(task, io.node);
        io.fallbacks.sourceFailed++;
        throw err;
      }
      io.alive();
      scheduler.setSize(task, size);
      break;
    }
    await scheduler.changed(task, PIECE_WAIT_MS);
    if (task.size !== undefined) break;
    // The size comes from the back-to-source peer up the DAG: if every parent left, or none made progress for
    // the collected-piece timeout, ask the scheduler again (it sends this peer to source after its retry limit).
    const live = decision.parents.filter((p) => task.peers.get(p)?.state !== 'failed');
    if (live.length === 0 || stalledFor() >= COLLECTED_PIECE_TIMEOUT_MS) await reschedule(live);
  }
  local.have = new Uint8Array(task.pieceCount);
  const inflight = new Set<number>();
  const queue = new TaskQueue(io.opts.concurrentPieceCount);
  const next = (): number | undefined => {
    for (let n = 0; n < task.pieceCount; n++) {
      if (local.have[n] === 1 || inflight.has(n)) continue;
      if (decision.backToSource || direct || decision.parents.some((p) => scheduler.has(task, p, n))) return n;
    }
    return undefined;
  };
  // What this peer's waits depend on: its own pieces, and its parents' pieces and states.
  const watched = (): number[] => (decision.backToSource ? [io.node] : [io.node, ...decision.parents]);
  let stored = 0;
  // The scheduler's back-to-source download failed: the rest comes from the source without the scheduler, once.
  let direct = false;
  let failure: unknown;
  while (stored < task.pieceCount) {
    io.alive();
    if (failure !== undefined) throw failure;
    const n = next();
    if (n === undefined) {
      if (inflight.size === 0 && !decision.backToSource && !direct) {
        const live = decision.parents.filter((p) => !blocklist.has(p) && task.peers.get(p)?.state !== 'failed');
        // No live parent holds anything this peer still needs: ask the scheduler again (it may send it to source).
        if (live.length === 0) await reschedule([]);
        else {
          await scheduler.changed(task, PIECE_WAIT_MS, [io.node, ...live]);
          // Parents that finished without the pieces, or that gave nothing for the collected-piece timeout (a
          // parent waiting on its own dead or corrupt parents), are given back: a pull never waits forever.
          if (next() === undefined && (live.every((p) => task.peers.get(p)?.state === 'succeeded') || stalledFor() >= COLLECTED_PIECE_TIMEOUT_MS)) await reschedule(live);
        }
      } else await scheduler.changed(task, PIECE_WAIT_MS, watched());
      continue;
    }
    inflight.add(n);
    const parent = decision.backToSource || direct ? undefined : pickParent(io, decision.parents, n, blocklist);
    const pass = direct ? 'direct' : 'scheduled';
    void queue
      .run(() => io.fetchPiece(n, parent))
      .then(
        () => {
          stored++;
          progressAt = scheduler.now();
        },
        (err: unknown) => {
          if (parent === undefined) {
            // A piece the source would not give past the backend's retries ends the back-to-source download
            // (dragonfly-client src/resource/task.rs at ff17c0b: download_partial_with_scheduler_from_source stops
            // at the first failed piece and the peer reports DownloadPeerBackToSourceFailedRequest; download then
            // fetches the remaining pieces with download_partial_from_source, without the scheduler, and a
            // failure there fails the task): the node's runtime falls through to the registry (its next host).
            if (pass === 'scheduled') {
              direct = true;
              scheduler.failed(task, io.node);
            } else if (failure === undefined) {
              failure = err;
              io.fallbacks.sourceFailed++;
            }
          } else {
            // A failed or corrupt parent is blocklisted (the client reports it, the scheduler filters it out).
            blocklist.add(parent);
            decision = decision.backToSource ? decision : { backToSource: false, parents: decision.parents.filter((p) => p !== parent) };
          }
        },
      )
      .finally(() => {
        inflight.delete(n);
        scheduler.touch(task, io.node);
      });
    // Keep at most concurrentPieceCount pieces in flight.
    while (inflight.size >= io.opts.concurrentPieceCount) await scheduler.changed(task, PIECE_WAIT_MS, [io.node]);
  }
  io.alive();
  scheduler.succeeded(task, io.node);
}

// One of the parents that hold piece n (the piece collector's CollectedPiece.parents), as dfdaemon's ParentSelector picks.
function pickParent(io: PieceDownload, parents: number[], n: number, blocklist: Set<number>): number | undefined {
  const holders = parents.filter((p) => !blocklist.has(p) && io.scheduler.has(io.task, p, n));
  return holders.length === 0 ? undefined : io.selector.select(holders);
}
