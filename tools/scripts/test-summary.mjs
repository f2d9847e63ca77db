#!/usr/bin/env node
// Adds up every package's vitest JSON report (written to <pkg>/.vitest/results.json) into
// one closing line, so a CI log shows the whole suite's count in one place.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const group of ["packages", "apps", "tools"]) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, ".vitest", "results.json");
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, "utf8"));
    const s = r.numPendingTests + r.numTodoTests;
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += s;
    rows.push(
      `  ${`${group}/${name}`.padEnd(28)} ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${s} skipped`,
    );
  }
}
console.log(rows.join("\n"));
console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || rows.length === 0 ? 1 : 0);
