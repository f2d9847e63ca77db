/**
 * Runs `code` (an ES module) in a fresh `node`, workspace packages read from source, with the
 * packages in `hidden` resolving as if they were not installed (Node's ERR_MODULE_NOT_FOUND).
 * `attempted` lists each try to load one of them, as `"@cnnkit/viz from load-viz.ts"`.
 */
export declare function runWithoutPackages(
  hidden: readonly string[],
  code: string,
  options: { cwd: string | URL },
): { status: number | null; stdout: string; stderr: string; attempted: string[] };
