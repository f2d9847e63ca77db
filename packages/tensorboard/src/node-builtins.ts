// Node's built-in modules, reached through process.getBuiltinModule (Node >= 20.16) instead of
// a static import: a browser bundle of this package then contains no "node:fs" import at all,
// and the in-memory sink works there unchanged.
import { TensorBoardError } from "./errors.js";

type BuiltinGetter = <T>(id: string) => T | undefined;

/** Returns a Node built-in module, or throws naming `what` needed it. */
export function nodeBuiltin<T>(id: "node:fs" | "node:os" | "node:path", what: string): T {
  const get = (globalThis as { process?: { getBuiltinModule?: BuiltinGetter } }).process
    ?.getBuiltinModule;
  const mod = typeof get === "function" ? get<T>(id) : undefined;
  if (mod === undefined) {
    throw new TensorBoardError(
      "no_file_system",
      `${what}: expected Node.js >= 20.16 (process.getBuiltinModule("${id}")), got a runtime without it; in a browser pass { sink: new MemorySink() } and read it with decodeEvents()`,
    );
  }
  return mod;
}
