// Writing a picture to disk, in the format its file name asks for (Node only).

import { makeDirs } from "@cnnkit/make-dirs";
import { VizError } from "./errors.js";
import { nodeProcess } from "./node-only.js";
import type { Picture, PngOptions } from "./picture.js";

/**
 * Writes `picture` as SVG or PNG, chosen by the extension of `path` (`.svg` or `.png`), creating
 * missing folders. The file is written beside its final name and renamed into place, so a
 * viewer (or TensorBoard, or a report being served) never reads half a picture. Node only: in
 * a browser, offer `picture.toSVG()` or `await renderPNG(picture)` as a download instead.
 */
export async function savePicture(
  picture: Picture,
  path: string,
  options: PngOptions = {},
): Promise<void> {
  const proc = nodeProcess(
    "savePicture",
    "in a browser offer picture.toSVG() or await renderPNG(picture) as a download (a Blob URL)",
  );
  const { rename, rm, writeFile } = proc.getBuiltinModule("node:fs/promises");
  const { dirname, extname } = proc.getBuiltinModule("node:path");
  const ext = extname(path).toLowerCase();
  let bytes: string | Uint8Array;
  if (ext === ".svg") bytes = picture.toSVG();
  else if (ext === ".png") bytes = picture.toPNG(options);
  else {
    throw new VizError(
      "unsupported_format",
      `savePicture ${path}: expected a file name ending in .svg or .png, got ${ext ? `"${ext}"` : "no extension"}`,
    );
  }
  await makeDirs(dirname(path)).catch((cause: Error) => {
    throw new VizError("write_failed", `savePicture ${path}: ${cause.message}`, { cause });
  });
  const tmp = `${path}.${proc.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new VizError("write_failed", `savePicture ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}
