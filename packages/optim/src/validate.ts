// Option checks shared by the optimizers: each names the option and says what it got.
import { OptimError } from "./errors.js";

export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null)
    return String(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  return typeof value;
}

/** A finite number in [min, max] (or [min, max) when `maxExclusive`), else an `invalid_option` error. */
export function checkNumber(
  owner: string,
  name: string,
  value: unknown,
  range: { min: number; max?: number; maxExclusive?: boolean; minExclusive?: boolean },
): number {
  const { min, max = Number.POSITIVE_INFINITY, maxExclusive = false, minExclusive = false } = range;
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (minExclusive ? value > min : value >= min) &&
    (maxExclusive ? value < max : value <= max);
  if (!ok) {
    const lo = minExclusive ? `(${min}` : `[${min}`;
    const hi = max === Number.POSITIVE_INFINITY ? "∞)" : maxExclusive ? `${max})` : `${max}]`;
    throw new OptimError(
      "invalid_option",
      `${owner}: expected ${name} to be a finite number in ${lo}, ${hi}, got ${describe(value)}`,
    );
  }
  return value as number;
}

export function checkBoolean(owner: string, name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new OptimError(
      "invalid_option",
      `${owner}: expected ${name} to be a boolean, got ${describe(value)}`,
    );
  }
  return value;
}

/** Names users bring from PyTorch or tfjs, mapped to ours for the "did you mean" hint. */
const ALIASES: Record<string, string> = { lr: "learningRate", eps: "epsilon" };

/**
 * `options` itself: `undefined` (all defaults) or a plain object whose keys are all in `known`,
 * else an `invalid_option` error naming the stray key (`new AdamW({ lr: 0.5 })` must not
 * silently train at the default rate).
 */
export function checkOptions<T extends object>(
  owner: string,
  options: T | undefined,
  known: readonly (keyof T & string)[],
): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new OptimError(
      "invalid_option",
      `${owner}: expected an options object, got ${describe(options)}`,
    );
  }
  const plain = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  for (const key of Object.keys(options)) {
    if ((known as readonly string[]).includes(key)) continue;
    const guess = ALIASES[key] ?? known.find((k) => plain(k) === plain(key));
    const hint =
      guess !== undefined && known.includes(guess as keyof T & string)
        ? ` (did you mean ${guess}?)`
        : "";
    throw new OptimError(
      "invalid_option",
      `${owner}: unknown option ${JSON.stringify(key)}${hint}; expected one of ${known.join(", ")}`,
    );
  }
  return options;
}
