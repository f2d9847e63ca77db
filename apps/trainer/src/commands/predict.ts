// `cnnkit-train predict EXPORT_DIR|RUN_DIR IMAGE…`: top classes of PNG/JPEG files.
import { join } from "node:path";
import { predict } from "@cnnkit/export";
import { TrainerError } from "../errors.js";
import { exists } from "../run-dir.js";

/** One line per image: `path: cat 71.2%, dog 20.1%, frog 3.0%`. */
export async function predictLines(
  dir: string,
  images: readonly string[],
  topK = 3,
): Promise<string[]> {
  if (images.length === 0) {
    throw new TrainerError(
      "flag_invalid",
      "predict: expected EXPORT_DIR then one or more image files, got no image",
    );
  }
  // A run directory holds its export in export/.
  const exportDir = (await exists(join(dir, "manifest.json"))) ? dir : join(dir, "export");
  const predictions = await predict(exportDir, images, { topK });
  return predictions.map(
    (p) =>
      `${p.source}: ${p.top.map((t) => `${t.className} ${(t.probability * 100).toFixed(1)}%`).join(", ")}`,
  );
}
