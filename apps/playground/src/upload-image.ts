// A picture the person uploads, brought to the model's input as the export's manifest says:
// the shorter side resized to 32 keeping the aspect ratio, then the centre 32×32, as RGB bytes.

/** The picture's 32×32 RGB pixels (HWC), drawn through a canvas. */
export async function imageToPixels(file: Blob): Promise<Uint8Array> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (cause) {
    throw new Error("expected a picture the browser can decode (PNG, JPEG, WebP, …)", { cause });
  }
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = 32;
  canvas.height = 32;
  const context = canvas.getContext("2d");
  if (!context) throw new Error("the browser gave no 2d canvas");
  context.imageSmoothingQuality = "high";
  context.drawImage(
    bitmap,
    (bitmap.width - side) / 2,
    (bitmap.height - side) / 2,
    side,
    side,
    0,
    0,
    32,
    32,
  );
  bitmap.close();
  const rgba = context.getImageData(0, 0, 32, 32).data;
  const rgb = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < 32 * 32; i++) rgb.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  return rgb;
}
