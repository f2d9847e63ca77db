// Run a snippet in a fresh Node process where some packages are not installed, e.g. to prove
// that an entry point never loads an optional peer and to see the error its users would see.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const hooks = new URL("./hide-packages.js", import.meta.url).href;

/**
 * Runs `code` (an ES module, top-level await allowed) with `node`, workspace packages read from
 * source (`@cnnkit/source`, TypeScript through tsx) and the packages in `hidden` unresolvable.
 * `attempted` lists each try to load a hidden package, as "specifier from file name".
 * @param {readonly string[]} hidden package names, e.g. `["@cnnkit/viz", "@resvg/resvg-js"]`
 * @param {string} code
 * @param {{ cwd: string | URL }} options `cwd` decides how bare specifiers resolve
 */
export function runWithoutPackages(hidden, code, { cwd }) {
  const dir = mkdtempSync(join(tmpdir(), "cnnkit-without-"));
  const log = join(dir, "attempts.tsv");
  const data = JSON.stringify({ hidden, log });
  const register = `import { register } from "node:module"; register(${JSON.stringify(hooks)}, { data: ${data} });`;
  try {
    const child = spawnSync(
      process.execPath,
      [
        "--conditions=@cnnkit/source",
        "--import",
        "tsx",
        "--import",
        `data:text/javascript,${encodeURIComponent(register)}`,
        "--input-type=module",
        "--eval",
        code,
      ],
      { cwd, encoding: "utf8", timeout: 60_000 },
    );
    let attempted = [];
    try {
      attempted = readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [specifier, parent] = line.split("\t");
          return `${specifier} from ${parent ? basename(new URL(parent).pathname) : "?"}`;
        });
    } catch {
      // No attempt, no log.
    }
    return { status: child.status, stdout: child.stdout, stderr: child.stderr, attempted };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
