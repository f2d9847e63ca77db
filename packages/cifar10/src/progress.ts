// A one-line download progress bar for terminals; silent elsewhere so logs stay clean.

export interface ProgressBar {
  update(received: number, total: number | null): void;
  done(): void;
}

const MB = 1024 * 1024;

/** A bar on `stream` (a TTY), redrawn at most every 100 ms. */
export function progressBar(label: string, stream: NodeJS.WriteStream): ProgressBar {
  const start = Date.now();
  let last = 0;
  let drawn = false;
  const draw = (received: number, total: number | null) => {
    const secs = Math.max((Date.now() - start) / 1000, 1e-3);
    const rate = `${(received / MB / secs).toFixed(1)} MB/s`;
    let bar = "";
    if (total) {
      const f = Math.min(received / total, 1);
      const width = 24;
      const full = Math.round(f * width);
      bar = `[${"#".repeat(full)}${"-".repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}% `;
    }
    const size = total
      ? `${(received / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB`
      : `${(received / MB).toFixed(1)} MB`;
    stream.write(`\r${label} ${bar}${size} ${rate}\x1b[K`);
    drawn = true;
  };
  return {
    update(received, total) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(received, total);
    },
    done() {
      if (drawn) stream.write("\n");
    },
  };
}

/** A bar that draws nothing. */
export const silentProgress: ProgressBar = { update() {}, done() {} };

/**
 * Progress for logs (no terminal): one line through `log` at most every `everyMs`, so a slow or
 * stalled download is never silent for long.
 */
export function progressLines(
  label: string,
  log: (line: string) => void,
  everyMs = 10_000,
): ProgressBar {
  const start = Date.now();
  let last = start;
  return {
    update(received, total) {
      const now = Date.now();
      if (now - last < everyMs) return;
      last = now;
      const share = total
        ? ` of ${(total / MB).toFixed(1)} MB (${((received / total) * 100).toFixed(0)}%)`
        : "";
      const rate = received / MB / Math.max((now - start) / 1000, 1e-3);
      log(`${label}: ${(received / MB).toFixed(1)} MB${share} downloaded, ${rate.toFixed(2)} MB/s`);
    },
    done() {},
  };
}
