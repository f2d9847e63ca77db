// Helpers shared by the tests (not exported from the package).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Reads a file from src/__fixtures__. */
export function fixture(name: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`./${name}`, import.meta.url)));
}

/** Parses an annotated hex fixture: `#` starts a comment, whitespace is ignored. */
export function parseHexFixture(text: string): Uint8Array {
  const hex = text
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join("")
    .replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`bad hex fixture: ${hex}`);
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}
