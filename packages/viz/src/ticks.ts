// Axis ticks: "nice" round steps for linear axes, decades for log axes, and their labels.

/** A linear axis: its domain (extended to round numbers unless fixed) and tick positions. */
export interface LinearTicks {
  min: number;
  max: number;
  ticks: number[];
  step: number;
  /** Labels for `ticks`, when they are not `formatTick(tick, step)`. */
  labels?: string[];
}

/** The round step (1, 2, 2.5 or 5 × 10^k) closest to `span / target`. */
export function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const m = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
  return m * power;
}

/**
 * Ticks for data in [lo, hi]. With `extend` the domain grows to the enclosing ticks (the y axis:
 * curves never touch the frame); without, it stays [lo, hi] and only inner ticks are kept (the
 * x axis: step 0 to the last step, no empty margin).
 */
export function linearTicks(
  lo: number,
  hi: number,
  target = 5,
  extend = true,
  integer = false,
): LinearTicks {
  if (!(hi > lo)) {
    // A flat series still needs an axis; centre it in a band of ±10% (±1 around zero).
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  // Steps and epochs are whole numbers: a tick at step 0.5 would be a lie.
  const step = integer ? Math.max(1, niceStep(hi - lo, target)) : niceStep(hi - lo, target);
  const eps = step * 1e-9;
  const first = extend ? Math.floor((lo + eps) / step) : Math.ceil((lo - eps) / step);
  const last = extend ? Math.ceil((hi - eps) / step) : Math.floor((hi + eps) / step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(roundTo(k * step, step));
  return extend
    ? { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, step }
    : { min: lo, max: hi, ticks, step };
}

/**
 * Ticks for a log10 axis over positive data in [lo, hi]: whole decades, plus 2× and 5× when the
 * data spans fewer than three decades (an lr schedule from 4e-4 to 1e-2 would otherwise get two
 * labels). The domain is extended to the enclosing decades.
 */
export function logTicks(lo: number, hi: number): LinearTicks {
  const a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (b === a) b += 1; // lo === hi, exactly a power of ten
  const ticks: number[] = [];
  const multiples = b - a < 3 ? [1, 2, 5] : [1];
  for (let p = a; p <= b; p++) {
    for (const m of multiples) {
      const v = m * 10 ** p;
      if (p === b && m > 1) break;
      ticks.push(Number(v.toPrecision(12)));
    }
  }
  // One style per axis: "1e-4 … 1e-2" rather than "1e-4, 0.001, 0.01".
  const exponent = ticks.some((t) => t < 1e-3 || t >= 1e6);
  const labels = ticks.map((t) => (exponent ? formatExponent(t) : formatNumber(t)));
  return { min: 10 ** a, max: 10 ** b, ticks, step: 0, labels };
}

function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  const rounded = Number(value.toFixed(Math.min(20, decimals)));
  return Object.is(rounded, -0) ? 0 : rounded;
}

/**
 * A tick label: as many decimals as the step needs (0.25 → "0.25", 1000 → "1000"), switching to
 * exponent form for very small or large magnitudes ("1e-5", "2.5e+6") so labels stay short.
 */
export function formatTick(value: number, step: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return formatExponent(value);
  if (step <= 0) return formatNumber(value);
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9) + (isHalfStep(step) ? 1 : 0));
  return value.toFixed(Math.min(decimals, 10));
}

function isHalfStep(step: number): boolean {
  // 2.5 × 10^k needs one more decimal than 10^k (0.25, not 0.3).
  const f = step / 10 ** Math.floor(Math.log10(step));
  return Math.abs(f - 2.5) < 1e-9;
}

function formatExponent(value: number): string {
  const [mantissa, exponent] = value.toExponential(2).split("e");
  const m = String(Number(mantissa));
  return `${m}e${exponent}`;
}

/**
 * A value for people: 3 significant digits, no trailing zeros, exponent form only when tiny or
 * huge (0.93214 → "0.932", 1234.5 → "1235", 0.000123 → "1.23e-4", 12 → "12").
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e6) return formatExponent(value);
  if (abs >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/**
 * [min, max] of the values that pass `keep` (all finite ones by default), or undefined if none.
 * A loop, not Math.min(...values): spreading a 200 000-step curve overflows the call stack.
 */
export function extent(
  values: Iterable<number>,
  keep: (v: number) => boolean = Number.isFinite,
): [number, number] | undefined {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!keep(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}
