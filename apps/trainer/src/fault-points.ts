// Named moments of a run where the fault-injection tests (test/faults.test.ts) stop a real
// process: a checkpoint half written, a checkpoint swap half done, an export under way. Inert
// unless CNNKIT_TEST_FAULTS is set; never set it outside tests.
//
//   CNNKIT_TEST_FAULTS=1            print "cnnkit-test: <point> <n>" on stderr at each point
//   CNNKIT_TEST_PAUSE_AT=<point>#<n> also wait there, the n-th time (from 1), for
//   CNNKIT_TEST_PAUSE_MS (default 3000) ms, so a test can send a signal at that exact moment

const counts = new Map<string, number>();

/** Marks `point`, and pauses there when a test asks for it. */
export async function faultPoint(point: string): Promise<void> {
  if (!process.env.CNNKIT_TEST_FAULTS) return;
  const n = (counts.get(point) ?? 0) + 1;
  counts.set(point, n);
  process.stderr.write(`cnnkit-test: ${point} ${n}\n`);
  if (process.env.CNNKIT_TEST_PAUSE_AT === `${point}#${n}`) {
    await new Promise((resolve) =>
      setTimeout(resolve, Number(process.env.CNNKIT_TEST_PAUSE_MS ?? 3000)),
    );
  }
}
