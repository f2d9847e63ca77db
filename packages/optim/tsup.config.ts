import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({ entry: ["src/index.ts", "src/kernel-names.ts"] });
