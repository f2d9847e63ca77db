// The CLI as its own process for the fault-injection tests (faults.test.ts): `cnnkit-train` with
// real signal handling, on the cpu backend and synthetic data (CNNKIT_TEST_SYNTHETIC="train,test"
// image counts, default 32,8), so a run takes seconds and needs no dataset; "none" loads the
// data as the flags say.
import { main } from "../src/cli.js";
import { syntheticData, useCpu } from "../src/test-helpers.js";

// CNNKIT_TEST_NO_BACKEND=1: no backend set beforehand, as in a fresh `cnnkit-train` process.
if (!process.env.CNNKIT_TEST_NO_BACKEND) await useCpu();
const synthetic = process.env.CNNKIT_TEST_SYNTHETIC ?? "32,8";
const [train, test] = synthetic.split(",").map(Number);
const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  ...(synthetic === "none" ? {} : { data: syntheticData(train, test) }),
});
process.exit(code);
