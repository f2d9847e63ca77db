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
