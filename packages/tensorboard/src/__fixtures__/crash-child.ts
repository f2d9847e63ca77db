// Run by read-events.test.ts in a child process: logs steps 1–2, flushes, logs 3–4, then either
// dies by SIGKILL (no cleanup runs) or exits without calling close().
import { SummaryWriter } from "../index.js";

const [logdir, mode] = process.argv.slice(2);
const writer = new SummaryWriter(logdir!, { flushIntervalMs: 60_000 });
writer.scalar("loss", 1, 1);
writer.scalar("loss", 0.5, 2);
await writer.flush();
writer.scalar("loss", 0.25, 3);
writer.scalar("loss", 0.125, 4);
if (mode === "kill") process.kill(process.pid, "SIGKILL");
else process.exit(0);
