/** Names what a caller passed, for "expected …, got …" messages. */
export function describeValue(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "undefined";
  if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint") {
    return `${typeof x} ${String(x)}`;
  }
  if (typeof x === "string") {
    return `string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  }
  if (Array.isArray(x)) return "an array";
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return typeof x === "object" ? "an object" : typeof x;
}
