// Entry point of `cnnkit-train`. Until the trainer lands (its own issue), it says so plainly.
export async function main(_argv: readonly string[]): Promise<number> {
  process.stdout.write(
    "cnnkit-train: the reference trainer is not built yet; the packages under packages/ are.\n" +
      "Track it in the 'apps/trainer' issue. Nothing was trained.\n",
  );
  return 0;
}
