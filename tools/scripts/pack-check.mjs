#!/usr/bin/env node
// Installs every published package the way a user does, and runs its README. Each package is
// packed (`pnpm pack`), installed alone with npm into a fresh project with exactly what its
// README's install line names (cnnkit packages from their fresh tarballs), the ```ts blocks of
// its README's "## Example" section are typechecked against the installed types (nodenext and
// bundler resolution, skipLibCheck off for cnnkit's declarations) and run with node. It also
// checks that each tarball holds a LICENSE and every file its README links to.
//
// Usage: node tools/scripts/pack-check.mjs [name ...] [--keep] [--verbose]
//   name: packages to check (`resnet` or `@cnnkit/resnet`; default all); --keep: leave the
//   temporary projects in place; --verbose: print the examples' output. Needs `pnpm build`.
// Nothing is cached between runs: tarballs and projects live in a new temporary folder that is
// removed at the end. Examples that load CIFAR-10 read ../shared/datasets/cifar-10-binary.tar.gz.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../..", import.meta.url));
const args = process.argv.slice(2);
const keep = args.includes("--keep");
const verbose = args.includes("--verbose");
const only = args.filter((a) => !a.startsWith("--")).map((a) => a.replace(/^@cnnkit\//, ""));
const EXAMPLE_TIMEOUT_MS = 300_000;
const INSTALL_TIMEOUT_MS = 300_000;
const CIFAR10_ARCHIVE = join(root, "..", "shared", "datasets", "cifar-10-binary.tar.gz");

/** Every published package: `{ dir, name, manifest, readme }`. */
function publishedPackages() {
  const dir = join(root, "packages");
  return readdirSync(dir)
    .sort()
    .filter((d) => existsSync(join(dir, d, "package.json")))
    .map((d) => {
      const manifest = JSON.parse(readFileSync(join(dir, d, "package.json"), "utf8"));
      const readmePath = join(dir, d, "README.md");
      const readme = existsSync(readmePath) ? readFileSync(readmePath, "utf8") : "";
      return { dir: join(dir, d), short: d, name: manifest.name, manifest, readme };
    })
    .filter((p) => !p.manifest.private);
}

/** The README's install line: the first `pnpm add …` of its first ```sh block, as arguments. */
export function installLine(readme) {
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) return null;
  for (const line of block.split("\n")) {
    const command = line.replace(/#.*$/, "").trim();
    if (command.startsWith("pnpm add ")) {
      return command
        .slice("pnpm add ".length)
        .split(/\s+/)
        .filter((w) => w && !w.startsWith("-"));
    }
  }
  return null;
}

/** The ```ts blocks of the README's "## Example" section (up to the next `## ` heading). */
export function exampleBlocks(readme) {
  const start = readme.search(/^## Example\b/m);
  if (start < 0) return [];
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** The package an import specifier names (`@scope/name` or `name`), or null for node: and relative ones. */
function packageOf(specifier) {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:")) {
    return null;
  }
  if (builtinModules.includes(specifier.split("/")[0])) return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function importedPackages(code) {
  const found = new Set();
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*"([^"]+)"/g)) {
    found.add(m[1]);
  }
  for (const m of code.matchAll(/(?:^|[\s;])import\s*"([^"]+)"/g)) found.add(m[1]);
  for (const m of code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.add(m[1]);
  return [...found].map(packageOf).filter((p) => p !== null);
}

/** A package name without its version: `@tensorflow/tfjs-core@4` → `@tensorflow/tfjs-core`. */
function nameOf(spec) {
  const at = spec.indexOf("@", 1);
  return at < 0 ? spec : spec.slice(0, at);
}

function run(command, argv, options) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

/**
 * The environment without what `pnpm run` adds (its own config, the script's package), so npm
 * behaves as it does for a user; settings the user gave npm (`npm_config_registry`, …) stay.
 */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    const pnpms =
      /pnpm/i.test(k) || /^npm_(package_|lifecycle_|command$|execpath$|node_execpath$)/i.test(k);
    // pnpm 10 also passes its own settings as npm_config_* (npm_globalconfig, _jsr_registry, …),
    // which npm 11 warns about as unknown.
    const added =
      /^npm_config_(user_agent|verify_deps_before_run|npm_globalconfig|_jsr_registry)$/i.test(k);
    if (!pnpms && !added) env[k] = v;
  }
  return { ...env, ONNXRUNTIME_NODE_INSTALL: "skip", ...extra };
}

function tarballFiles(tarball) {
  const r = spawnSync("tar", ["tzf", tarball], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar tzf ${tarball}: ${r.stderr}`);
  return new Set(
    r.stdout
      .split("\n")
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, "")),
  );
}

/** What is wrong with a tarball's contents: LICENSE, and every relative link of its README. */
function tarballProblems(pkg, files) {
  const problems = [];
  for (const f of ["LICENSE", "README.md", "package.json"]) {
    if (!files.has(f)) problems.push(`the tarball has no ${f}`);
  }
  const links = [
    ...[...pkg.readme.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]),
    ...[...pkg.readme.matchAll(/<img[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]),
  ];
  for (const link of links) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith("#")) continue;
    const path = link.split("#")[0].replace(/^\.\//, "").replace(/\/$/, "");
    if (path.startsWith("../") || path.startsWith("/")) {
      problems.push(`README links to ${link}, outside the package (broken on npm): use a URL`);
    } else if (!files.has(path) && ![...files].some((f) => f.startsWith(`${path}/`))) {
      problems.push(`README links to ${link}, which the tarball does not hold`);
    }
  }
  return problems;
}

const typesNode = dirname(
  createRequire(join(root, "packages", "cifar10", "package.json")).resolve(
    "@types/node/package.json",
  ),
);

/** Type errors in cnnkit's declarations or the examples, under one module resolution. */
function typeErrors(dir, files, resolution) {
  const parsed = ts.parseJsonConfigFileContent(
    {
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: "ES2022",
        lib: ["ES2022", "DOM"],
        module: resolution === "nodenext" ? "NodeNext" : "ESNext",
        moduleResolution: resolution === "nodenext" ? "NodeNext" : "Bundler",
        types: ["node"],
        typeRoots: [dirname(typesNode)],
      },
      files,
    },
    ts.sys,
    dir,
  );
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const ours = join(dir, "node_modules", "@cnnkit") + sep;
  return ts
    .getPreEmitDiagnostics(program)
    .filter(
      (d) =>
        !d.file ||
        d.file.fileName.startsWith(ours) ||
        !d.file.fileName.includes(`${sep}node_modules${sep}`),
    )
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n    ");
      if (!d.file) return `${resolution}: ${text}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${resolution}: ${relative(dir, d.file.fileName)}(${line + 1},${character + 1}): ${text}`;
    });
}

/** `pnpm pack`s one package into `packDir`: its tarball and the manifest as published. */
async function packOne(pkg, name, packDir, env) {
  if (!pkg) throw new Error(`${name}: no such published package in packages/`);
  if (!existsSync(join(pkg.dir, "dist"))) {
    throw new Error(`${pkg.name} has no dist/: run \`pnpm build\` first`);
  }
  const r = await run("pnpm", ["pack", "--pack-destination", packDir], {
    cwd: pkg.dir,
    env,
    timeout: 120_000,
  });
  const file = `${pkg.name.replace("@", "").replace("/", "-")}-${pkg.manifest.version}.tgz`;
  const tarball = join(packDir, file);
  if (r.code !== 0 || !existsSync(tarball))
    throw new Error(`pnpm pack in ${pkg.dir} failed:\n${r.out}`);
  const manifest = JSON.parse(
    spawnSync("tar", ["xzf", tarball, "-O", "package/package.json"], { encoding: "utf8" }).stdout,
  );
  return { tarball, manifest };
}

/**
 * Installs one package alone, typechecks and runs its README example: `{ problems (empty: it
 * passed), summary, notes }`.
 */
async function checkPackage(pkg, pack, work) {
  const problems = [];
  const t0 = Date.now();
  const files = tarballFiles((await pack(pkg.name)).tarball);
  problems.push(...tarballProblems(pkg, files));

  const line = installLine(pkg.readme);
  const examples = exampleBlocks(pkg.readme);
  if (!line) problems.push("the README has no ```sh block with a `pnpm add …` line");
  if (examples.length === 0) problems.push('the README has no ```ts block under "## Example"');
  if (!line || examples.length === 0) return { problems };
  const named = new Set(line.map(nameOf));
  if (!named.has(pkg.name)) problems.push(`the install line does not add ${pkg.name}`);
  for (const [i, code] of examples.entries()) {
    for (const p of importedPackages(code)) {
      if (!named.has(p)) {
        problems.push(`example ${i + 1} imports ${p}, which the install line does not add`);
      }
    }
  }

  // cnnkit packages come from this run's tarballs, with the cnnkit packages they depend on.
  const tarballs = new Set();
  const addWithDeps = async (name) => {
    const packed = await pack(name);
    if (tarballs.has(packed.tarball)) return;
    tarballs.add(packed.tarball);
    const { dependencies = {}, peerDependencies = {}, peerDependenciesMeta = {} } = packed.manifest;
    for (const dep of Object.keys(dependencies)) {
      if (dep.startsWith("@cnnkit/")) await addWithDeps(dep);
    }
    for (const dep of Object.keys(peerDependencies)) {
      if (dep.startsWith("@cnnkit/") && !peerDependenciesMeta[dep]?.optional)
        await addWithDeps(dep);
    }
  };
  const registry = [];
  for (const spec of line) {
    if (spec.startsWith("@cnnkit/")) await addWithDeps(nameOf(spec));
    else registry.push(spec);
  }

  const dir = join(work, pkg.short);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "package.json"),
    `${JSON.stringify({ name: `try-${pkg.short}`, private: true, type: "module" }, null, 2)}\n`,
  );
  const env = cleanEnv({
    CNNKIT_DATA_DIR: join(dir, ".cnnkit-cache"),
    CNNKIT_CIFAR10_URL: pathToFileURL(CIFAR10_ARCHIVE).href,
  });
  const install = await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--loglevel=warn", ...tarballs, ...registry],
    { cwd: dir, env, timeout: INSTALL_TIMEOUT_MS },
  );
  const t1 = Date.now();
  if (install.code !== 0) {
    const command = `npm install ${[...tarballs, ...registry].join(" ")}`;
    return { problems: [...problems, `${command} failed:\n${install.out}`] };
  }
  // npm 11 lists dependencies with install scripts that the project has not approved
  // (allowScripts): a note about a dependency's dependency, not a fault of the package.
  const warnings = install.out.split("\n").filter((l) => /^npm warn/i.test(l));
  const notes = warnings.filter((l) => /^npm warn install-scripts\b/i.test(l));
  // About the environment npm runs in (settings it does not know), not about the package.
  const environment = warnings.filter((l) =>
    /^npm warn Unknown (env|user|project) config\b/i.test(l),
  );
  const faults = warnings.filter((l) => !notes.includes(l) && !environment.includes(l));
  if (faults.length > 0) problems.push(`npm install warned:\n${faults.join("\n")}`);

  const sources = [];
  for (const [i, code] of examples.entries()) {
    const file = join(dir, `example-${i + 1}.ts`);
    await writeFile(file, code);
    sources.push(file);
  }
  for (const resolution of ["nodenext", "bundler"]) {
    problems.push(...typeErrors(dir, sources, resolution));
  }
  const t2 = Date.now();

  const outputs = [];
  for (const [i, code] of examples.entries()) {
    const js = ts.transpileModule(code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const file = join(dir, `example-${i + 1}.mjs`);
    await writeFile(file, js);
    const r = await run(process.execPath, [file], { cwd: dir, env, timeout: EXAMPLE_TIMEOUT_MS });
    if (r.code !== 0) {
      const why = r.signal
        ? `was killed (${r.signal}; over ${EXAMPLE_TIMEOUT_MS / 1000} s?)`
        : `exited ${r.code}`;
      problems.push(`example ${i + 1} ${why}:\n${r.out.trimEnd()}`);
    } else {
      outputs.push(r.out);
    }
  }
  const t3 = Date.now();
  const s = (ms) => `${(ms / 1000).toFixed(0)} s`;
  const summary =
    `${pkg.name}: installed alone (${s(t1 - t0)}; ${[...tarballs].length} tarball(s) + ${registry.join(" ") || "nothing else"}), ` +
    `types checked (${s(t2 - t1)}), ${examples.length} example(s) ran (${s(t3 - t2)})`;
  if (verbose) for (const out of outputs) console.log(out.replace(/^/gm, `  ${pkg.short} | `));
  const scripts = notes
    .filter((l) => /@\d/.test(l))
    .map(
      (l) => `${l.replace(/^npm warn install-scripts\s+/i, "")}: not covered by npm's allowScripts`,
    );
  return { problems, summary, notes: scripts };
}

async function main() {
  const started = Date.now();
  const all = publishedPackages();
  const chosen = only.length ? all.filter((p) => only.includes(p.short)) : all;
  if (chosen.length === 0) throw new Error(`no published package named ${only.join(", ")}`);
  if (!existsSync(CIFAR10_ARCHIVE)) {
    console.warn(`warning: ${CIFAR10_ARCHIVE} is missing; examples that load CIFAR-10 will fail`);
  }
  const work = await mkdtemp(join(tmpdir(), "cnnkit-pack-check-"));
  const failures = [];
  try {
    const packDir = join(work, "packs");
    const env = cleanEnv({
      PATH: `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH}`,
    });
    const byName = new Map(all.map((p) => [p.name, p]));
    const packing = new Map();
    /** `{ tarball, manifest }` of a published package, packed once per run. */
    const pack = (name) => {
      if (!packing.has(name)) packing.set(name, packOne(byName.get(name), name, packDir, env));
      return packing.get(name);
    };

    // Two at a time: installs wait on the network, examples on the CPU.
    const queue = [...chosen];
    const worker = async () => {
      for (let pkg = queue.shift(); pkg; pkg = queue.shift()) {
        let result;
        try {
          result = await checkPackage(pkg, pack, work);
        } catch (error) {
          result = { problems: [String(error?.stack ?? error)] };
        }
        if (result.problems.length === 0) {
          console.log(`ok ${result.summary}`);
          for (const note of result.notes) console.log(`  note: ${note}`);
        } else {
          failures.push(pkg.name);
          console.log(`FAIL ${pkg.name}:`);
          for (const p of result.problems) console.log(`  - ${p.replace(/\n/g, "\n    ")}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    if (keep) console.log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  const took = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  if (failures.length > 0) {
    console.log(
      `pack check: ${failures.length} of ${chosen.length} failed (${failures.join(", ")}), ${took}`,
    );
    process.exit(1);
  }
  console.log(
    `pack check: ${chosen.length} packages install alone and run their README examples, ${took}`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
