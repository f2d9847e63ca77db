import { cnnkitVitest } from "@cnnkit/vitest-config";

export default cnnkitVitest();
