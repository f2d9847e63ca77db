// Errors of optional packages as one line each: a missing native library prints pages otherwise.

/**
 * How a missing package reads: Node's codes, and the messages of module runners that have none
 * (vite's "Could not resolve", as under vitest). A browser's bare-specifier error is passed on as
 * it is: there the package may be installed but not in the page's bundle.
 */
const NOT_INSTALLED = /^(Cannot find (package|module)|Could not resolve)\b/;

/** The first line of an error, without the stack: a missing native library prints pages otherwise. */
export function oneLine(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return "not installed";
  const message = err instanceof Error ? err.message : String(err);
  if (NOT_INSTALLED.test(message.trim())) return "not installed";
  return (message.split("\n").find((l) => l.trim() !== "") ?? "unknown error").trim().slice(0, 300);
}
