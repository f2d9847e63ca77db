import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({ entry: ["src/make-dirs.ts"] });
