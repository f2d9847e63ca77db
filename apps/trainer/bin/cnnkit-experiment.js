#!/usr/bin/env node
import { main } from "../dist/experiments/cli.js";

// Exit explicitly: the wasm backend's worker threads would otherwise keep the process alive.
process.exit(await main(process.argv.slice(2)));
