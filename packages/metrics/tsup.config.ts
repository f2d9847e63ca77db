import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({ entry: ["src/index.ts", "src/tfjs.ts", "src/pictures.ts"] });
