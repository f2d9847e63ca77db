// `mkdir -p` that cannot spin, with errors that say what is wrong. Node's recursive mkdir loops
// forever at 100% CPU where a folder exists but creating a child in it answers ENOENT (procfs,
// sysfs: `/proc/x`); this walks up to the nearest existing folder, then creates each level once.
// Node only: the built-ins are fetched when it runs, so a browser bundle has no "node:*" import.
// A private workspace package: tsup bundles it into each package that imports it
// (@cnnkit/tsup-config), so no user installs it.

const WHY: Record<string, string> = {
  EACCES: "permission denied: the folder above is read-only for this user",
  EPERM: "operation not permitted: the folder above is read-only",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ENOTDIR: "it, or a folder above it, is a file",
  ENOENT: "this file system does not allow creating folders here (/proc or /sys?)",
};

/** An error naming `path`, saying why, and keeping the system's `code` (EACCES, EROFS, …). */
function cannotCreate(path: string, cause: NodeJS.ErrnoException): NodeJS.ErrnoException {
  const code = cause.code ?? "EIO";
  const error: NodeJS.ErrnoException = new Error(
    `${path}: cannot create this folder: ${WHY[code] ?? cause.message} (${code})`,
    { cause },
  );
  error.code = code;
  error.path = path;
  return error;
}

/** Creates `dir` and its missing parents. Throws naming the first folder that cannot be made. */
export async function makeDirs(dir: string): Promise<void> {
  const { mkdir, stat } = process.getBuiltinModule("node:fs/promises");
  const { dirname, resolve } = process.getBuiltinModule("node:path");
  const missing: string[] = [];
  for (let at = resolve(dir); ; ) {
    let isDir: boolean;
    try {
      isDir = (await stat(at)).isDirectory();
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code !== "ENOENT") throw cannotCreate(missing.at(-1) ?? at, e);
      missing.push(at);
      const up = dirname(at);
      if (up === at) break;
      at = up;
      continue;
    }
    if (!isDir) {
      const e: NodeJS.ErrnoException = new Error(`${at} is a file`);
      e.code = "ENOTDIR";
      throw cannotCreate(missing.at(-1) ?? at, e);
    }
    break;
  }
  for (const path of missing.reverse()) {
    try {
      await mkdir(path);
    } catch (error) {
      // Made meanwhile by another process: as good.
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw cannotCreate(path, error as NodeJS.ErrnoException);
    }
  }
}
