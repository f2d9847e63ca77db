// WebGPU in a browser: bundles test/webgpu-page.ts with esbuild, serves it on 127.0.0.1 and runs
// it in headless Chromium (Debian's `chromium`, which .ci/run installs) on its SwiftShader WebGPU
// adapter (--enable-unsafe-swiftshader: there is no GPU on these machines), then judges what the
// page computed against tfjs's cpu reference kernels. Runs on CI, or with CNNKIT_WEBGPU=1 / all
// (see webgpuSetting in ./conv-check.ts). Where no adapter can be had, it says
// "WebGPU checks NOT RUN: <why>" in the log instead of passing quietly.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GradCase, SMALL_CASES, webgpuCases, webgpuSetting } from "./conv-check.js";

type Checks = typeof globalThis & {
  webgpuChecks: {
    probe(): Promise<{ adapter: Record<string, unknown> | null; why?: string }>;
    select(): Promise<{
      auto: { backend: string; tried: { choice: string; ok: boolean; reason: string }[] };
      webgpu: { backend: string; reason: string };
    }>;
    checkConv(c: GradCase): Promise<Record<string, number | string>>;
    maxPoolGrad(): Promise<{ size: number; error: number; nonZero: number }[]>;
    gelu(): Promise<{ y: number; dy: number }>;
    training(steps: number): Promise<Record<"small" | "fast", Record<"cpu" | "webgpu", Curve>>>;
  };
};
interface Curve {
  losses: number[];
  kernels: string[];
  tensorsAfterFirstStep: number;
  tensorsAtEnd: number;
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Chromium's WebGPU on SwiftShader, its CPU Vulkan driver (Chromium 156 here). */
const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--use-webgpu-adapter=swiftshader",
];
/** The conv kernels' tolerance, as test/all-shapes.test.ts: 1e-4 relative to the reference. */
const RTOL = 1e-4;
const STEPS = 6;

const setting = webgpuSetting();
const CASES = webgpuCases(setting);
const notRun = (why: string) => console.log(`WebGPU checks NOT RUN: ${why}`);

if (setting === null) {
  it.skip("WebGPU in Chromium: on CI, or with CNNKIT_WEBGPU=1 (all: every ResNet shape)", () => {});
} else if (!existsSync(CHROMIUM)) {
  notRun(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  it.skip(`WebGPU in Chromium: NOT RUN, no Chromium at ${CHROMIUM}`, () => {});
}

/** The page as a browser gets it; esbuild fails on any Node built-in it meets. */
async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL("./webgpu-page.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    conditions: ["@cnnkit/source"],
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0]!.text;
}

function serve(script: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === "/page.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else if (request.url === "/") {
      const html = '<!doctype html><script type="module" src="/page.js"></script>';
      response.writeHead(200, { "content-type": "text/html" }).end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done(server)));
}

describe.runIf(setting !== null && existsSync(CHROMIUM))("WebGPU in headless Chromium", () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  let adapter: Record<string, unknown> | null = null;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await serve(await bundle());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", ...WEBGPU_FLAGS],
    });
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => "webgpuChecks" in globalThis);
    const probed = await page.evaluate(() => (globalThis as Checks).webgpuChecks.probe());
    adapter = probed.adapter;
    if (!adapter) notRun(`Chromium (${WEBGPU_FLAGS.join(" ")}) offers no adapter: ${probed.why}`);
    else console.log(`WebGPU checks on Chromium's adapter ${JSON.stringify(adapter)}`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  // Each test below needs the adapter; without one each is skipped, and the log says why above.
  const withAdapter = (name: string, test: () => Promise<void>, timeout: number) =>
    it(
      name,
      async (context) => {
        if (!adapter) return context.skip();
        await test();
      },
      timeout,
    );

  withAdapter(
    "useBackend: 'auto' refuses the software adapter and says why; 'webgpu' takes it when allowed",
    async () => {
      const { auto, webgpu } = await page.evaluate(() =>
        (globalThis as Checks).webgpuChecks.select(),
      );
      // The page bundles no wasm backend, so auto lands on cpu after refusing SwiftShader.
      expect(auto.backend).toBe("cpu");
      const tried = auto.tried.find((t) => t.choice === "webgpu");
      expect(tried?.ok).toBe(false);
      expect(tried?.reason).toMatch(
        /^WebGPU: only a software adapter, google swiftshader .*not taken for speed.*allowSoftwareAdapter: true/,
      );
      expect(webgpu.backend).toBe("webgpu");
      expect(webgpu.reason).toMatch(
        /^@tensorflow\/tfjs-backend-webgpu: WebGPU on software adapter google swiftshader .*, through navigator\.gpu$/,
      );
      expect(pageErrors).toEqual([]);
    },
    120_000,
  );

  describe(`conv kernels (${setting}: ${CASES.length} cases)`, () => {
    let checked = 0;
    let webgpuMs = 0;
    let referenceMs = 0;
    afterAll(() => {
      if (adapter) {
        console.log(
          `webgpu conv check (${setting}): ${checked} of ${CASES.length} cases passed (Conv2D, FusedConv2D, both gradients) in ${(webgpuMs / 1000).toFixed(1)} s on SwiftShader; the cpu reference took ${(referenceMs / 1000).toFixed(1)} s`,
        );
      }
    });
    for (const c of CASES) {
      withAdapter(
        `${c.name} equals the cpu reference to 1e-4`,
        async () => {
          const r = await page.evaluate((c) => (globalThis as Checks).webgpuChecks.checkConv(c), c);
          expect(r.backend).toBe("webgpu");
          for (const kernel of ["dFilter", "dInput", "conv2d", "fusedConv2d"]) {
            expect(r[kernel], kernel).toBeLessThan(RTOL);
          }
          webgpuMs += r.webgpuMs as number;
          referenceMs += r.referenceMs as number;
          checked++;
        },
        300_000,
      );
    }
  });

  withAdapter(
    "MaxPoolGrad routes dy as cpu does on fastResNet's pools, windows below zero included",
    async () => {
      const pools = await page.evaluate(() => (globalThis as Checks).webgpuChecks.maxPoolGrad());
      expect(pools).toHaveLength(4);
      for (const p of pools) {
        expect(p.error, `pool at ${p.size}`).toBe(0);
        expect(p.nonZero).toBeGreaterThan(0);
      }
    },
    120_000,
  );

  withAdapter(
    "GELU (Erf) and its gradient follow cpu's",
    async () => {
      const r = await page.evaluate(() => (globalThis as Checks).webgpuChecks.gelu());
      console.log(
        `webgpu GELU: ${r.y.toExponential(1)} forward, ${r.dy.toExponential(1)} gradient`,
      );
      // Measured: 5.8e-8 and 2.5e-7 (cpu's erf is Abramowitz-Stegun's, to 1.5e-7).
      expect(r.y).toBeLessThan(1e-6);
      expect(r.dy).toBeLessThan(1e-6);
    },
    60_000,
  );

  withAdapter(
    "SmallResNet and fastResNet train as on cpu, on tfjs ops where cnnkit's fused kernels are absent",
    async () => {
      const runs = await page.evaluate(
        (steps) => (globalThis as Checks).webgpuChecks.training(steps),
        STEPS,
      );
      const worst: Record<string, number> = {};
      for (const [name, { cpu, webgpu }] of Object.entries(runs)) {
        worst[name] = Math.max(
          ...webgpu.losses.map((l, i) => Math.abs(l - cpu.losses[i]!) / Math.abs(cpu.losses[i]!)),
        );
        expect(webgpu.losses, name).toHaveLength(STEPS);
        // It learns, so that matching curves mean something.
        expect(cpu.losses.at(-1)!, name).toBeLessThan(cpu.losses[0]! * 0.9);
        webgpu.losses.forEach((loss, i) => {
          const ref = cpu.losses[i]!;
          expect(
            Math.abs(loss - ref) / Math.abs(ref),
            `${name} step ${i}: ${loss} vs ${ref}`,
          ).toBeLessThan(LOSS_RTOL);
        });
        // No cnnkit kernel is registered for webgpu: the callers composed tfjs ops instead.
        expect(
          webgpu.kernels.filter((k) => k.startsWith("Cnnkit")),
          name,
        ).toEqual([]);
        expect(webgpu.kernels, name).toEqual(
          expect.arrayContaining(["Conv2DBackpropFilter", "Conv2DBackpropInput"]),
        );
        expect(webgpu.tensorsAtEnd, `${name} leaks`).toBe(webgpu.tensorsAfterFirstStep);
      }
      expect(runs.fast.webgpu.kernels).toEqual(expect.arrayContaining(["MaxPoolGrad", "Erf"]));
      console.log(
        `webgpu training: SmallResNet ${runs.small.webgpu.losses.map((l) => l.toFixed(4)).join(" ")}; fastResNet ${runs.fast.webgpu.losses.map((l) => l.toFixed(4)).join(" ")}; largest difference from cpu's: ${worst.small!.toExponential(1)}, ${worst.fast!.toExponential(1)}`,
      );
    },
    300_000,
  );
});

/**
 * Loss curves on webgpu against cpu's: the GPU sums in another order, and each step carries the
 * difference forward. Measured over 6 steps: at most 4.0e-7 (SmallResNet) and 1.3e-7
 * (fastResNet); the same 1e-5 as src/training-parity.test.ts.
 */
const LOSS_RTOL = 1e-5;

describe("the WebGPU checks' selection", () => {
  it("is the small cases and every ResNet shape at batch 1, on CI or when asked", () => {
    expect(webgpuSetting({ CI: "true" })).toBe("all");
    expect(webgpuSetting({ CI: "true", CNNKIT_WEBGPU: "0" })).toBeNull();
    expect(webgpuSetting({})).toBeNull();
    expect(webgpuSetting({ CNNKIT_WEBGPU: "1" })).toBe("all");
    expect(webgpuSetting({ CNNKIT_WEBGPU: "all" })).toBe("all");
    const cases = webgpuCases("all");
    const shapes = cases.slice(SMALL_CASES.length);
    expect(shapes.length).toBe(62);
    expect(shapes.every((c) => c.inputShape[0] === 1)).toBe(true);
    // One of each ResNet shape: the widest 3x3 convs and fastResNet's whitening stem among them.
    expect(new Set(shapes.map((c) => c.name)).size).toBe(62);
    const names = shapes.map((c) => c.name);
    expect(names).toContain("2x2 s1 valid 3->24 @32x32 batch 1");
    expect(names).toContain("3x3 s1 same 128->384 @15x15 batch 1");
    expect(names).toContain("3x3 s1 same 512->512 @4x4 batch 1");
  });
});
