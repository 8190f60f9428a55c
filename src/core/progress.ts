/**
 * What a run reports while it works. The library emits these and never builds
 * or throttles progress text; a command renders them (src/cli/progress.ts).
 */
export type RunEvent =
  | { type: 'cluster-ready'; driver: string }
  | { type: 'seeding'; registry: string; url: string; images: number }
  | { type: 'verified'; images: { image: string; decision: string }[] }
  | { type: 'arm'; arm: string; repetition: number; repetitions: number }
  | { type: 'warming'; nodes: number; images: number }
  | { type: 'emptying-cache'; nodes: number }
  | { type: 'load'; storms: string }
  /** Pods of one rollout step turned ready: bytes over the links so far (live), or the virtual time (model). */
  | { type: 'step'; step: string; ready: number; total: number; linkBytes?: number; virtualSeconds?: number };

export type RunEventSink = (event: RunEvent) => void;
