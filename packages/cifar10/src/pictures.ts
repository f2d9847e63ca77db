// Entry point `@cnnkit/cifar10/pictures`: a batch drawn with @cnnkit/viz, an optional peer (the
// main entry never loads it, so the data loader does not install a rasteriser).

export { type BatchGridOptions, type BatchLike, batchGrid, saveBatchGrid } from "./batch-grid.js";
