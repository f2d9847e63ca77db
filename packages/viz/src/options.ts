// Boundary checks shared by the drawing functions; each error names the option at fault.
import { VizError } from "./errors.js";

export function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new VizError(
      "invalid_option",
      `${option}: expected a positive integer, got ${show(value)}`,
    );
  }
  return value;
}

export function positiveNumber(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new VizError(
      "invalid_option",
      `${option}: expected a positive number, got ${show(value)}`,
    );
  }
  return value;
}

export function stringArray(value: unknown, option: string, length?: number): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new VizError(
      "invalid_option",
      `${option}: expected an array of strings, got ${show(value)}`,
    );
  }
  if (length !== undefined && value.length !== length) {
    throw new VizError(
      "invalid_option",
      `${option}: expected ${length} strings, got ${value.length}`,
    );
  }
  return value as string[];
}

export function show(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return value.constructor?.name ?? "an object";
}
