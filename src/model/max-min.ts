/**
 * Max-min fair rates by progressive filling, as a pure function.
 *
 * A class is `weight` identical flows over the same shared links, each flow
 * also bounded by `cap` (its private link's share: a node link's bandwidth over
 * the flows on it). Every unfrozen flow's rate rises together; a link that fills
 * freezes the flows crossing it at the level reached, a flow that reaches its cap
 * freezes there; the rest keep rising. Rates are per flow, in the capacities' unit.
 */
export interface FlowClass {
  /** Indices into `capacities` of the shared links every flow of the class crosses. */
  links: readonly number[];
  /** Identical flows in the class (> 0). */
  weight: number;
  /** Bound on each flow's rate from links it does not share with other classes (Infinity: none). */
  cap: number;
}

export function maxMinRates(capacities: readonly number[], classes: readonly FlowClass[]): number[] {
  const rates = new Array<number>(classes.length).fill(0);
  const remaining = [...capacities];
  const load = new Array<number>(capacities.length).fill(0);
  const frozen = new Array<boolean>(classes.length).fill(false);
  for (const c of classes) for (const l of c.links) load[l]! += c.weight;
  let level = 0;
  let open = classes.length;
  while (open > 0) {
    // The next event as the level rises: a link fills, or a class reaches its cap.
    let step = Infinity;
    for (let l = 0; l < remaining.length; l++) if (load[l]! > 0) step = Math.min(step, remaining[l]! / load[l]!);
    for (let i = 0; i < classes.length; i++) if (!frozen[i]) step = Math.min(step, classes[i]!.cap - level);
    if (!Number.isFinite(step)) {
      // Nothing bounds what is left: those flows are unlimited.
      for (let i = 0; i < classes.length; i++) if (!frozen[i]) rates[i] = Infinity;
      break;
    }
    step = Math.max(0, step);
    level += step;
    for (let l = 0; l < remaining.length; l++) if (load[l]! > 0) remaining[l]! -= step * load[l]!;
    const eps = 1e-9 * Math.max(1, level);
    for (let i = 0; i < classes.length; i++) {
      if (frozen[i]) continue;
      const c = classes[i]!;
      const full = c.cap - level <= eps || c.links.some((l) => remaining[l]! <= eps * Math.max(1, load[l]!));
      if (!full) continue;
      frozen[i] = true;
      rates[i] = level;
      open--;
      for (const l of c.links) load[l]! -= c.weight;
    }
  }
  return rates;
}
