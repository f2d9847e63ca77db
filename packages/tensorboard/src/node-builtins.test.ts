import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { MemorySink } from "./memory-sink.js";
import { decodeEvents } from "./read-events.js";
import { SummaryWriter } from "./summary-writer.js";

describe("running without Node's file system (a browser)", () => {
  const original = process.getBuiltinModule;
  afterEach(() => {
    process.getBuiltinModule = original;
  });

  it("the default file sink fails with a message that points at MemorySink", () => {
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    expect(() => new SummaryWriter("runs/x")).toThrow(
      expect.objectContaining({
        code: "no_file_system",
        message: expect.stringContaining("pass { sink: new MemorySink() }"),
      }),
    );
  });

  it("a MemorySink writer works without it", async () => {
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    const sink = new MemorySink();
    const writer = new SummaryWriter("runs/x", { sink, flushIntervalMs: 0 });
    writer.image("i", { data: new Uint8Array(12), width: 2, height: 2 }, 1);
    await writer.close();
    expect(decodeEvents(sink.bytes()).events).toHaveLength(2);
  });

  it("no source file imports a node: module at run time (bundlers would pull it in)", () => {
    const dir = fileURLToPath(new URL(".", import.meta.url));
    const sources = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const text = readFileSync(`${dir}/${file}`, "utf8");
      const runtimeNodeImports = text.match(/^import (?!type )[^;]*from "node:[^"]+"/gm) ?? [];
      expect({ file, runtimeNodeImports }).toEqual({ file, runtimeNodeImports: [] });
    }
  });
});
