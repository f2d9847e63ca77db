#!/usr/bin/env node
// Fails when the install holds more than one copy of @tensorflow/tfjs-core: two copies split
// tfjs's kernel, gradient and layer registries, and models then fail in confusing ways.
import { readdirSync } from "node:fs";

const store = new URL("../../node_modules/.pnpm", import.meta.url);
const copies = readdirSync(store).filter((d) => d.startsWith("@tensorflow+tfjs-core@"));
if (copies.length !== 1) {
  console.error(
    `expected exactly one @tensorflow/tfjs-core in the install, found ${copies.length}:`,
  );
  for (const c of copies) console.error(`  ${c}`);
  console.error("run `pnpm why @tensorflow/tfjs-core -r` to see who pulls each copy");
  process.exit(1);
}
console.log(`one @tensorflow/tfjs-core in the install: ${copies[0]}`);
