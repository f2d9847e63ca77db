// What the A/B benches share: two configurations timed alternately in one process (A then B,
// then B then A, ...), so both see the same machine through the VM's drift, and a summary.

/** Times `run` `pairs` times under each configuration, `use(0)` or `use(1)` switching between them. */
export function alternate(pairs: number, use: (k: 0 | 1) => void, run: () => void): number[][] {
  const times: number[][] = [[], []];
  for (let p = 0; p < pairs; p++) {
    for (const k of p % 2 ? ([1, 0] as const) : ([0, 1] as const)) {
      use(k);
      const t = performance.now();
      run();
      times[k]!.push(performance.now() - t);
    }
  }
  return times;
}

export const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** "A 12.3 ms, B 10.1 ms per run (medians); A/B 1.22x (1.05-1.40, 8 pairs)": B's speed-up, per pair. */
export function summary(times: number[][], names: [string, string]): string {
  const [a, b] = times as [number[], number[]];
  const ratios = a.map((t, i) => t / (b[i] as number));
  return `${names[0]} ${median(a).toFixed(1)} ms, ${names[1]} ${median(b).toFixed(1)} ms per run (medians); A/B ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}, ${a.length} pairs)`;
}
