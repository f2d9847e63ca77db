// WebGPU in Node through Dawn's `webgpu` package, on a software Vulkan driver: SwiftShader as
// Debian's chromium package ships it (/usr/lib/chromium: libvulkan.so.1, libvk_swiftshader.so and
// its ICD file), else whatever Vulkan driver the system has. Vulkan's loader reads its library
// path when the process starts, so test/webgpu-node-check.ts runs in a child process. Runs on CI,
// or with CNNKIT_WEBGPU=1 / all; says "WebGPU checks NOT RUN: <why>" where no adapter appears.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SMALL_CASES, webgpuSetting } from "./conv-check.js";

const CHROMIUM_DIR = "/usr/lib/chromium";
const SWIFTSHADER_ICD = `${CHROMIUM_DIR}/vk_swiftshader_icd.json`;
const RTOL = 1e-4;

interface Report {
  auto: { backend: string; webgpu?: { ok: boolean; reason: string } };
  webgpu?: { backend: string; reason: string };
  cases?: { name: string; dFilter: number; dInput: number; conv2d: number; fusedConv2d: number }[];
  training?: { cpu: number[]; webgpu: number[]; unchecked: string };
  error?: string;
}

function runCheck(): { report: Report | null; output: string; driver: string } {
  const swiftshader = existsSync(SWIFTSHADER_ICD) && existsSync(`${CHROMIUM_DIR}/libvulkan.so.1`);
  const env = { ...process.env };
  if (swiftshader) {
    env.LD_LIBRARY_PATH = [CHROMIUM_DIR, env.LD_LIBRARY_PATH].filter(Boolean).join(":");
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const script = fileURLToPath(new URL("./webgpu-node-check.ts", import.meta.url));
  const child = spawnSync(
    process.execPath,
    ["--conditions=@cnnkit/source", "--import", "tsx", script],
    { cwd: fileURLToPath(new URL("..", import.meta.url)), env, encoding: "utf8", timeout: 240_000 },
  );
  const output = `${child.stdout}\n${child.stderr}`;
  const line = child.stdout.split("\n").find((l) => l.startsWith("webgpu-node-check "));
  return {
    report: line ? (JSON.parse(line.slice("webgpu-node-check ".length)) as Report) : null,
    output,
    driver: swiftshader
      ? `Chromium's SwiftShader (${SWIFTSHADER_ICD})`
      : "the system's Vulkan driver",
  };
}

const setting = webgpuSetting();

describe.runIf(setting !== null)("WebGPU in Node through Dawn", () => {
  it("useBackend takes a software adapter only when allowed, and its conv kernels equal cpu's to 1e-4", (context) => {
    const { report, output, driver } = runCheck();
    // The check itself must run and report; only a missing adapter may excuse the kernels.
    expect(report, output.slice(-2000)).not.toBeNull();
    const r = report as Report;
    if (r.error?.includes("offers no adapter") || r.error?.includes("webgpu (Dawn")) {
      console.log(`WebGPU checks NOT RUN: in Node, with ${driver}: ${r.error}`);
      return context.skip();
    }
    expect(r.error).toBeUndefined();
    // 'auto' refused the software adapter, saying so, and went on to wasm.
    expect(r.auto.backend).toBe("wasm");
    expect(r.auto.webgpu?.ok).toBe(false);
    expect(r.auto.webgpu?.reason).toMatch(/^WebGPU: only a software adapter, /);
    expect(r.webgpu?.backend).toBe("webgpu");
    expect(r.webgpu?.reason).toMatch(
      /^@tensorflow\/tfjs-backend-webgpu: WebGPU on software adapter .*, through Dawn \(the webgpu package\)$/,
    );
    expect(r.cases?.map((c) => c.name)).toEqual(SMALL_CASES.map((c) => c.name));
    for (const c of r.cases ?? []) {
      for (const kernel of ["dFilter", "dInput", "conv2d", "fusedConv2d"] as const) {
        expect(c[kernel], `${c.name} ${kernel}`).toBeLessThan(RTOL);
      }
    }
    // cnnkit's SGD with clipByGlobalNormAsync trains there as on cpu; without the check first,
    // applyGradients says what to do instead of failing inside tfjs.
    const training = r.training!;
    expect(training.webgpu).toHaveLength(3);
    training.webgpu.forEach((loss, i) => {
      expect(Math.abs(loss - training.cpu[i]!) / training.cpu[i]!, `step ${i}`).toBeLessThan(1e-4);
    });
    expect(training.webgpu[2]).toBeLessThan(training.webgpu[0]!);
    expect(training.unchecked).toMatch(
      /^needs_async_check: SGD\.applyGradients: the webgpu backend cannot read the gradients synchronously .*await checkFiniteGradients\(grads\)/,
    );
    console.log(
      `webgpu conv check in Node: ${r.cases?.length} small cases passed on ${r.webgpu?.reason.replace(/^.*WebGPU on /, "")} (${driver})`,
    );
  }, 300_000);
});

if (setting === null) {
  it.skip("WebGPU in Node: on CI, or with CNNKIT_WEBGPU=1", () => {});
}
