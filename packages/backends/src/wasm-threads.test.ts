import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const INDEX = fileURLToPath(new URL("./index.ts", import.meta.url));

describe("wasm threads in Node", () => {
  it("start 2 threads, compute, and let the process exit by itself", () => {
    // A fresh process: the thread count is fixed when wasm first starts, and an exit that hangs
    // (pthread workers keeping the event loop alive) only shows at the end of a process.
    const script = `
      const { useBackend } = await import(${JSON.stringify(INDEX)});
      const tf = await import("@tensorflow/tfjs-core");
      const chosen = await useBackend("wasm", { threads: 2, onnxruntime: false });
      const y = tf.conv2d(tf.ones([2, 8, 8, 4]), tf.ones([3, 3, 4, 5]), 1, "valid");
      console.log(JSON.stringify({ reason: chosen.reason, sum: tf.sum(y).dataSync()[0] }));
    `;
    // A file, not -e: the pthread workers inherit execArgv, and --input-type breaks them. Inside
    // the package (in the git-ignored .vitest/), so that it resolves this package's tfjs.
    const dir = fileURLToPath(new URL("../.vitest/", import.meta.url));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `threads-probe-${process.pid}.mjs`);
    fs.writeFileSync(file, script);
    const res = spawnSync(
      process.execPath,
      ["--conditions=@cnnkit/source", "--import", "tsx", file],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    fs.rmSync(file, { force: true });
    expect(res.error).toBeUndefined(); // a timeout (hang at exit) shows up here
    expect(res.status).toBe(0);
    const out = JSON.parse(res.stdout.trim().split("\n").pop() as string) as {
      reason: string;
      sum: number;
    };
    expect(out.reason).toBe("@tensorflow/tfjs-backend-wasm: WebAssembly + SIMD, 2 threads");
    expect(out.sum).toBe(2 * 6 * 6 * 5 * 36); // every output is 3*3*4 ones
  });
});
