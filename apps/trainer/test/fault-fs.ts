// A faulty disk for the fault-injection tests, preloaded into a child process with
// `--import ./test/fault-fs.ts`: under one folder, writes fail as a full disk (ENOSPC, after a
// budget of bytes) or as a read-only one (EROFS, every change), for every fs API the app and the
// packages write with. No root, no tmpfs, no loop device: it works wherever the tests run.
//
//   CNNKIT_FAULT_FS='{"code":"ENOSPC","under":"/tmp/x/run/checkpoints","afterBytes":1000}'
//   CNNKIT_FAULT_FS='{"code":"EROFS","under":"/tmp/x/run"}'
import type * as Fs from "node:fs";
import type * as FsPromises from "node:fs/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";

const spec = process.env.CNNKIT_FAULT_FS
  ? (JSON.parse(process.env.CNNKIT_FAULT_FS) as {
      code: string;
      under: string;
      afterBytes?: number;
    })
  : null;

if (spec) {
  const require = createRequire(import.meta.url);
  const fs = require("node:fs") as typeof Fs & Record<string, unknown>;
  const fsp = require("node:fs/promises") as typeof FsPromises & Record<string, unknown>;
  const under = resolve(spec.under);
  let budget = spec.afterBytes ?? 0;
  const inside = (p: unknown) => {
    const s =
      typeof p === "string"
        ? p
        : p instanceof URL
          ? p.pathname
          : Buffer.isBuffer(p)
            ? p.toString()
            : null;
    return s !== null && (resolve(s) === under || resolve(s).startsWith(`${under}/`));
  };
  const fail = (op: string, path: unknown) => {
    const messages: Record<string, string> = {
      ENOSPC: "no space left on device",
      EROFS: "read-only file system",
    };
    const error: NodeJS.ErrnoException = new Error(
      `${spec.code}: ${messages[spec.code] ?? "injected fault"}, ${op} '${String(path)}'`,
    );
    error.code = spec.code;
    error.syscall = op;
    error.path = String(path);
    return error;
  };
  /** Data written to a file under the folder: refused once the budget is spent (ENOSPC). */
  const spend = (op: string, path: unknown, bytes: number) => {
    if (spec.code !== "ENOSPC") return;
    budget -= bytes;
    if (budget < 0) throw fail(op, path);
  };
  const size = (data: unknown) =>
    typeof data === "string"
      ? Buffer.byteLength(data)
      : ((data as { byteLength?: number })?.byteLength ?? 0);
  /** Any change under the folder: refused at once (EROFS). */
  const change = (op: string, ...paths: unknown[]) => {
    if (spec.code === "EROFS" && paths.some(inside)) throw fail(op, paths.find(inside));
  };

  const wrapAsync = (name: string, check: (...args: unknown[]) => void) => {
    const orig = fsp[name] as (...args: unknown[]) => Promise<unknown>;
    fsp[name] = async (...args: unknown[]) => {
      check(...args);
      return orig.apply(fsp, args);
    };
  };
  const wrapSync = (name: string, check: (...args: unknown[]) => void) => {
    const orig = fs[name] as (...args: unknown[]) => unknown;
    fs[name] = (...args: unknown[]) => {
      check(...args);
      return orig.apply(fs, args);
    };
  };
  for (const name of ["mkdir", "rename", "link", "unlink", "rm", "rmdir", "copyFile", "mkdtemp"]) {
    wrapAsync(name, (...a) =>
      change(name, a[0], name === "rename" || name === "link" ? a[1] : undefined),
    );
  }
  for (const name of ["mkdirSync", "renameSync", "unlinkSync", "rmSync"]) {
    wrapSync(name, (...a) => change(name, a[0], name === "renameSync" ? a[1] : undefined));
  }
  for (const name of ["writeFile", "appendFile"] as const) {
    wrapAsync(name, (path, data) => {
      if (!inside(path)) return;
      change(name, path);
      spend("write", path, size(data));
    });
  }
  // File handles: refuse opening for writing (EROFS), or their writes past the budget (ENOSPC).
  const openAsync = fsp.open;
  fsp.open = (async (path: Fs.PathLike, flags?: string | number, mode?: Fs.Mode) => {
    const writing = typeof flags === "string" && /[wa+]/.test(flags);
    if (writing) change("open", path);
    const handle = await openAsync(path, flags, mode);
    if (writing && inside(path) && spec.code === "ENOSPC") {
      const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
      const writeFile = handle.writeFile.bind(handle);
      (handle as unknown as Record<string, unknown>).write = (...a: unknown[]) => {
        spend("write", path, size(a[0]));
        return write(...a);
      };
      (handle as unknown as Record<string, unknown>).writeFile = (
        data: unknown,
        ...rest: unknown[]
      ) => {
        spend("write", path, size(data));
        return (writeFile as (...x: unknown[]) => Promise<void>)(data, ...rest);
      };
    }
    return handle;
  }) as typeof fsp.open;
  const paths = new Map<number, string>();
  const openSync = fs.openSync;
  fs.openSync = ((path: Fs.PathLike, flags?: Fs.OpenMode, mode?: Fs.Mode) => {
    const writing = typeof flags === "string" && /[wa+]/.test(flags);
    if (writing) change("open", path);
    const fd = openSync(path, flags ?? "r", mode);
    if (writing && inside(path)) paths.set(fd, String(path));
    return fd;
  }) as typeof fs.openSync;
  const writeSync = fs.writeSync;
  fs.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    const path = paths.get(fd);
    if (path !== undefined) spend("write", path, size(data));
    return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  wrapSync("writeFileSync", (path, data) => {
    if (!inside(path)) return;
    change("writeFileSync", path);
    spend("write", path, size(data));
  });
  syncBuiltinESMExports();
}
