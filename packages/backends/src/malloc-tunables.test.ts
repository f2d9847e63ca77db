import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  glibcMallocAdvice,
  type ProcessFacts,
  RECOMMENDED_GLIBC_TUNABLES,
} from "./malloc-tunables.js";

const glibc = (
  env: Record<string, string | undefined> = {},
  version: unknown = "2.36",
): ProcessFacts => ({
  platform: "linux",
  env,
  report: { getReport: () => ({ header: { glibcVersionRuntime: version } }) },
});

describe("glibcMallocAdvice", () => {
  it("names the tunables on Linux with glibc when neither threshold is set", () => {
    const advice = glibcMallocAdvice(glibc({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }));
    expect(advice).toMatch(/^start Node with GLIBC_TUNABLES=/);
    expect(advice).toContain(`GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES}:`);
  });

  it("says nothing where the thresholds are set, another allocator is preloaded, or there is no glibc", () => {
    for (const env of [
      { GLIBC_TUNABLES: "glibc.malloc.trim_threshold=1073741824" },
      { GLIBC_TUNABLES: `x=1:${RECOMMENDED_GLIBC_TUNABLES}` },
      { MALLOC_MMAP_THRESHOLD_: "33554432" },
      { MALLOC_TRIM_THRESHOLD_: "268435456" },
      { LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" },
    ]) {
      expect(glibcMallocAdvice(glibc(env))).toBeNull();
    }
    expect(glibcMallocAdvice(glibc({}, null))).toBeNull(); // musl: no glibcVersionRuntime
    expect(glibcMallocAdvice({ ...glibc(), platform: "darwin" })).toBeNull();
    expect(glibcMallocAdvice({ platform: "linux", env: {} })).toBeNull(); // no process.report
    const throwing = {
      getReport: () => {
        throw new Error("report disabled");
      },
    };
    expect(glibcMallocAdvice({ ...glibc(), report: throwing })).toBeNull();
    expect(glibcMallocAdvice(null)).toBeNull(); // a browser
  });

  // glibc ignores tunables it does not know without a word, so check that these take effect: a
  // child process drops 96 MB of 4 MB ArrayBuffers (onnxruntime-node's outputs, in miniature),
  // collects them, and allocates and writes them again; with the tunables the memory stays in
  // the heap and the second round faults (almost) no pages in. --single-threaded-gc: V8 frees the
  // buffers during gc() itself, not on a helper thread a little later (which 1 run in ~10 showed).
  const isGlibc =
    glibcMallocAdvice({ platform: process.platform, env: {}, report: process.report }) != null;
  it.skipIf(!isGlibc)(
    "RECOMMENDED_GLIBC_TUNABLES keeps freed buffers' pages (Linux, glibc)",
    () => {
      const script = `
      const round = () => { const b = []; for (let i = 0; i < 24; i++) b.push(new Float32Array(1 << 20).fill(1)); return b; };
      round(); gc(); round(); gc();
      const f0 = process.resourceUsage().minorPageFault;
      round(); gc();
      console.log(process.resourceUsage().minorPageFault - f0);`;
      const faults = (tunables?: string) => {
        const env = { ...process.env };
        delete env.GLIBC_TUNABLES;
        delete env.MALLOC_MMAP_THRESHOLD_;
        delete env.MALLOC_TRIM_THRESHOLD_;
        if (tunables) env.GLIBC_TUNABLES = tunables;
        const r = spawnSync(
          process.execPath,
          ["--expose-gc", "--single-threaded-gc", "-e", script],
          {
            env,
            encoding: "utf8",
          },
        );
        expect(r.status, r.stderr).toBe(0);
        return Number(r.stdout.trim());
      };
      const plain = faults();
      const tuned = faults(RECOMMENDED_GLIBC_TUNABLES);
      // 24 x 4 MB is 24,576 pages: faulted in again as started, kept with the tunables.
      expect(plain).toBeGreaterThan(12000);
      expect(tuned).toBeLessThan(plain / 10);
    },
  );
});
