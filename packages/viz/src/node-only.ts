// Node's process, for the few functions that need Node (writing files, rendering PNG with
// resvg). They fetch Node's built-in modules through process.getBuiltinModule when they run
// instead of importing them, so a browser bundle of this package has no "node:*" import to
// resolve, and calling one of them in a browser says what to use there instead.
import { VizError } from "./errors.js";

/** Node's `process`, or a VizError saying that `what` needs Node and what to do `instead`. */
export function nodeProcess(what: string, instead: string): NodeJS.Process {
  const proc = (globalThis as { process?: Partial<NodeJS.Process> }).process;
  if (typeof proc?.getBuiltinModule !== "function") {
    throw new VizError(
      "node_only",
      `${what}: expected Node.js >= 20.16 (process.getBuiltinModule), got a runtime without it; ${instead}`,
    );
  }
  return proc as NodeJS.Process;
}
