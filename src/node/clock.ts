/** The clock lives in src/net/clock.ts (one Clock for kubelet, runtimes and links); kept for old import paths. */
export { realClock, systemClock, ManualClock, type Clock } from '../net/clock.js';
