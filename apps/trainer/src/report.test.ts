import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES } from "@cnnkit/cifar10";
import { ClassificationMetrics } from "@cnnkit/metrics";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { markdownToHtml, reportMarkdown, reportPictures, writeReport } from "./report.js";
import { syntheticSplit } from "./test-helpers.js";

function result() {
  const names = [...CIFAR10_CLASS_NAMES];
  const m = new ClassificationMetrics({ classNames: names });
  const n = 20;
  const logits = new Float32Array(n * 10);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    // Right for even rows, "cat" for odd ones (right for the two cats): 12 of 20.
    logits[i * 10 + (i % 2 === 0 ? i % 10 : 3)] = 3;
  }
  return m.update(logits, labels).result();
}

const history = [1, 2].map((epoch) => ({
  epoch,
  trainLoss: 2 / epoch,
  trainAccuracy: 0.3 * epoch,
  testLoss: 2.1 / epoch,
  testAccuracy: 0.25 * epoch,
  lr: 1e-3 / epoch,
  seconds: 30,
  imagesPerSecond: 40,
}));

describe("report", () => {
  it("turns the report's Markdown into HTML tables, headings and images", () => {
    const html = markdownToHtml(
      "# Title <x>\n\n| a | b |\n|:--|--:|\n| `1` | *2* |\n\n![loss](loss.png)\ntext",
      "t",
    );
    expect(html).toContain("<h1>Title &lt;x&gt;</h1>");
    expect(html).toContain(
      '<thead><tr><th style="text-align:left">a</th><th style="text-align:right">b</th></tr></thead>',
    );
    expect(html).toContain(
      '<tr><td style="text-align:left"><code>1</code></td><td style="text-align:right"><em>2</em></td></tr>',
    );
    expect(html).toContain('<p><img src="loss.png" alt="loss"></p>');
    expect(html).toContain("<p>text</p>");
  });

  it("writes report.md, report.html and every picture", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-report-"));
    const r = result();
    const files = await writeReport(dir, {
      config: resolveConfig("smoke"),
      result: r,
      test: syntheticSplit(20, 4),
      history,
      stepsPerEpoch: 8,
      source: "checkpoints/best (epoch 2)",
      backend: "cpu",
    });
    expect((await readdir(dir)).sort()).toEqual([...files].sort());
    for (const png of [
      "confusion-matrix.png",
      "failures.png",
      "loss.png",
      "accuracy.png",
      "lr-schedule.png",
    ]) {
      expect(files).toContain(png);
      const bytes = await readFile(join(dir, png));
      expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join("")).toBe("PNG");
    }
    const md = await readFile(join(dir, "report.md"), "utf8");
    expect(md).toContain("| test accuracy | 60.00% |");
    expect(md).toContain("| best epoch | 2 of 2 |");
    expect(md).toContain("| 2 | 1.0000 | 60.00% | 1.0500 | 50.00% |");
    expect(md).toMatch(/### Most confused pairs[\s\S]*\| automobile \| cat \| 2 \|/);
    expect(md).toContain("![most confident mistakes](failures.png)");
    expect(await readFile(join(dir, "report.html"), "utf8")).toContain(
      '<img src="confusion-matrix.png"',
    );
  });

  it("leaves out what an evaluation without training does not have", () => {
    const md = reportMarkdown(
      {
        config: resolveConfig("smoke"),
        result: result(),
        test: syntheticSplit(20, 4),
        history: [],
        source: "export",
      },
      ["confusion-matrix.png"],
    );
    expect(md).not.toContain("## Training");
    expect(md).not.toContain("loss.png");
    expect(md).toContain("![confusion matrix](confusion-matrix.png)");
  });

  it("draws the run's per-step curves: loss and accuracy per step, the lr used, clipping and EMA", () => {
    const steps = Array.from({ length: 16 }, (_, i) => i + 1);
    const curve = (f: (step: number) => number) => ({ steps, values: steps.map(f) });
    const input = {
      config: resolveConfig("smoke", { gradClip: 1, ema: 0.9, schedule: "triangle" }),
      result: result(),
      test: syntheticSplit(20, 4),
      history,
      stepsPerEpoch: 8,
      source: "checkpoints/best (epoch 2)",
      curves: {
        "train/loss": curve((s) => 2 / s),
        "train/acc": curve((s) => s / 20),
        lr: curve((s) => 1e-3 * s),
        // 5 of the 16 steps above the threshold 1.0: steps 1–5.
        "train/grad_norm": curve((s) => (s <= 5 ? 2 : 0.5)),
        "test/acc_raw_weights": { steps: [8, 16], values: [0.2, 0.45] },
      },
    };
    const pictures = reportPictures(input);
    const svg = (name: string) => {
      const picture = pictures[name];
      expect(picture, name).toBeDefined();
      return picture!.toSVG();
    };
    expect(svg("grad-norm.png")).toContain("clipped in 5 of 16 steps (31%)");
    expect(svg("ema.png")).toContain("raw weights");
    // The schedule the run used (triangle here), not a OneCycleLR re-computed from the config.
    expect(svg("lr-schedule.png")).toContain(
      "Learning rate used at each step (triangle, 16 steps)",
    );
    // Per step: the training curve has a point per step, test sits at each epoch's last step.
    expect(svg("loss.png")).toContain("train (each step)");
    const markdown = reportMarkdown(input, Object.keys(pictures));
    expect(markdown).toContain("![gradient norm and clipping](grad-norm.png)");
    expect(markdown).toContain("Every step above the dashed line was clipped");
    // Without per-step curves (an older run), the epoch means as before, and no clipping panel.
    const old = reportPictures({ ...input, curves: {} });
    expect(old["grad-norm.png"]).toBeUndefined();
    expect(old["loss.png"]!.toSVG()).toContain("train (epoch mean)");
  });
});
