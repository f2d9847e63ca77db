import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({ entry: ["src/index.ts", "src/cli.ts", "src/experiments/cli.ts"] });
