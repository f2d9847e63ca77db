import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, SGD } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function model(name: string): tfl.LayersModel {
  const input = tfl.input({ shape: [3] });
  const out = tfl.layers.dense({ units: 2, name: `${name}_fc` }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe("with tfjs-layers", () => {
  for (const make of [
    () => new AdamW({ learningRate: 0.05 }),
    () => new SGD({ learningRate: 0.05, momentum: 0.9 }),
  ]) {
    const className = make().getClassName();
    it(`${className} trains through model.fit and round-trips through model.save(includeOptimizer)`, async () => {
      const m = model(className.replace(".", "_"));
      const optimizer = make();
      m.compile({ optimizer, loss: "meanSquaredError" });
      const x = tf.randomNormal([8, 3], 0, 1, "float32", 1);
      const y = tf.randomNormal([8, 2], 0, 1, "float32", 2);
      const history = await m.fit(x, y, { epochs: 5, batchSize: 4, verbose: 0 });
      const losses = history.history.loss as number[];
      expect(losses[4]!).toBeLessThan(losses[0]!);
      expect(optimizer.iterations).toBe(10);

      let saved: tf.io.ModelArtifacts | undefined;
      await m.save(
        tf.io.withSaveHandler(async (artifacts) => {
          saved = artifacts;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
        }),
        { includeOptimizer: true },
      );
      const optimizerConfig = saved?.trainingConfig?.optimizer_config as
        | { class_name?: string }
        | undefined;
      expect(optimizerConfig?.class_name).toBe(className);
      const names = saved!.weightSpecs!.map((s) => s.name);
      expect(
        names.some((n) =>
          n.endsWith("_fc/kernel/" + (className === "cnnkit.AdamW" ? "m" : "momentum")),
        ),
      ).toBe(true);

      // As in a resumed run: the old model is gone. tfjs-layers names the new one's variables
      // "<layer>/kernel_1" (it never reuses a name in a process); the state still finds them.
      m.dispose();
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
      const restored = loaded.optimizer as AdamW | SGD;
      expect(restored).toBeInstanceOf(make().constructor as typeof AdamW);
      expect(restored.getConfig()).toEqual(optimizer.getConfig());
      expect(restored.iterations).toBe(10);
      const kernel = (loaded.weights.find((w) => w.name.includes("kernel"))!.read() as tf.Variable)
        .name;
      expect(kernel).toMatch(/_fc\/kernel_\d+$/);
      const slotNames = (await restored.getWeights()).map((w) => w.name);
      expect(slotNames).toContain(`${kernel}/${className === "cnnkit.AdamW" ? "m" : "momentum"}`);
      await loaded.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
      expect(restored.iterations).toBe(11);
      tf.dispose([x, y]);
    });
  }
});
