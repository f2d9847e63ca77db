import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup();
