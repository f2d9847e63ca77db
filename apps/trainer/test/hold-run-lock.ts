// A second process for the lock tests: takes the lock of the folder given as argv[2], says
// "locked <pid>" on stdout, then holds it until stdin closes (or a signal ends it).
import { lockRunDir } from "../src/run-lock.js";

const lock = await lockRunDir(process.argv[2]!, "train");
process.stdout.write(`locked ${process.pid}\n`);
process.stdin.resume();
process.stdin.on("end", async () => {
  await lock.release();
  process.exit(0);
});
