// A narrow adapter over the two JS-hosted backends (cpu, wasm), so each training kernel is written
// once: allocate outputs, read/write their float32 values, call the backend's own fast kernels.
import {
  type backend_util,
  type DataType,
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type SimdLoops, simdLoops } from "./wasm-simd.js";

/** The backends whose kernels `registerTrainingKernels()` replaces or adds. */
export type KernelBackendName = "cpu" | "wasm";

export type NumericDType = Exclude<DataType, "string" | "complex64">;

export interface KernelOps {
  readonly backendName: KernelBackendName;
  /** A new float32 tensor of `shape`; its values are unspecified until written (wasm does not zero). */
  alloc(shape: readonly number[]): TensorInfo;
  /**
   * The float32 values of `info`, as a live view where the backend allows it. On wasm the view is
   * only valid until the next `alloc` or `run` (either may grow the heap and detach the buffer),
   * so fetch views after allocating and again after each kernel call.
   */
  values(info: TensorInfo): Float32Array;
  dispose(info: TensorInfo): void;
  /** `alloc` for any numeric dtype. */
  allocTyped(shape: readonly number[], dtype: NumericDType): TensorInfo;
  /** `values` for any numeric dtype (same lifetime rules). */
  typedValues(info: TensorInfo): backend_util.TypedArray;
  /**
   * A float32 tensor of `shape` over `info`'s memory from element `offset` on: no copy. The view
   * may not outlive `info`; release it with `disposeView` (which frees nothing of `info`).
   */
  view(info: TensorInfo, offset: number, shape: readonly number[]): TensorInfo;
  disposeView(view: TensorInfo): void;
  /** wasm only: the byte address of `info`'s data in the backend's memory (for wasm-simd.ts). */
  address?(info: TensorInfo): number;
  /** wasm only: the WebAssembly SIMD loops on the backend's memory, where they can run. */
  simd?(): SimdLoops | null;
  /** Runs the backend's registered kernel `name` directly (no tape, no engine bookkeeping). */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo;
}

interface CpuLike extends KernelBackend {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values: backend_util.TypedArray): TensorInfo;
  disposeIntermediateTensorInfo(info: TensorInfo): void;
}

interface WasmLike extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  dataIdMap: {
    get(dataId: object): { id: number; memoryOffset: number } | undefined;
    delete(dataId: object): void;
  };
  wasm: { tfjs: { disposeData(id: number): void } };
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: object): boolean;
}

function runKernel(
  backendName: KernelBackendName,
  backend: KernelBackend,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const kernel = getKernel(name, backendName);
  if (kernel == null) {
    throw new BackendError(
      "missing_kernel",
      `backend '${backendName}': expected a registered '${name}' kernel to build the training kernels on, found none`,
    );
  }
  const out = kernel.kernelFunc({ inputs, attrs: attrs as NamedAttrMap, backend });
  return Array.isArray(out) ? (out[0] as TensorInfo) : (out as TensorInfo);
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The adapter for `backend`, which the engine says is `backendName`. */
export function kernelOps(backendName: KernelBackendName, backend: KernelBackend): KernelOps {
  if (backendName === "cpu") {
    const cpu = backend as CpuLike;
    return {
      backendName,
      alloc: (shape) => cpu.makeTensorInfo([...shape], "float32", new Float32Array(size(shape))),
      values: (info) => {
        const v = cpu.data.get(info.dataId)?.values;
        if (v instanceof Float32Array) return v;
        if (v != null && ArrayBuffer.isView(v))
          return Float32Array.from(v as unknown as ArrayLike<number>);
        throw new BackendError(
          "unsupported_tensor",
          `cpu: expected float32 values for a tensor of shape [${info.shape}], got ${typeof v}`,
        );
      },
      dispose: (info) => cpu.disposeIntermediateTensorInfo(info),
      allocTyped: (shape, dtype) => {
        const n = size(shape);
        const values =
          dtype === "int32"
            ? new Int32Array(n)
            : dtype === "bool"
              ? new Uint8Array(n)
              : new Float32Array(n);
        return cpu.makeTensorInfo([...shape], dtype, values);
      },
      typedValues: (info) => {
        const v = cpu.data.get(info.dataId)?.values;
        if (v != null && ArrayBuffer.isView(v)) return v as backend_util.TypedArray;
        throw new BackendError(
          "unsupported_tensor",
          `cpu: expected typed values for a ${info.dtype} tensor, got ${typeof v}`,
        );
      },
      view: (info, offset, shape) => {
        const v = cpu.data.get(info.dataId)?.values;
        if (!(v instanceof Float32Array)) {
          throw new BackendError(
            "unsupported_tensor",
            `cpu: expected float32 values to view, got ${typeof v}`,
          );
        }
        return cpu.makeTensorInfo([...shape], "float32", v.subarray(offset, offset + size(shape)));
      },
      disposeView: (view) => cpu.disposeIntermediateTensorInfo(view),
      run: (name, inputs, attrs) => runKernel(backendName, backend, name, inputs, attrs),
    };
  }
  const wasm = backend as WasmLike;
  return {
    backendName,
    alloc: (shape) => wasm.makeOutput([...shape], "float32"),
    values: (info) => wasm.typedArrayFromHeap(info) as Float32Array,
    allocTyped: (shape, dtype) => wasm.makeOutput([...shape], dtype),
    typedValues: (info) => wasm.typedArrayFromHeap(info),
    dispose: (info) => {
      wasm.disposeData(info.dataId);
    },
    // makeOutput with a memoryOffset records a tensor over memory it does not own; releasing it
    // must skip disposeData (which would free that memory) and only drop the two records.
    view: (info, offset, shape) => {
      const data = wasm.dataIdMap.get(info.dataId);
      if (data == null || info.dtype !== "float32") {
        throw new BackendError(
          "unsupported_tensor",
          `wasm: expected a live float32 tensor to view, got ${info.dtype}`,
        );
      }
      return wasm.makeOutput([...shape], "float32", data.memoryOffset + 4 * offset);
    },
    simd: () => simdLoops(backend),
    address: (info) => {
      const data = wasm.dataIdMap.get(info.dataId);
      if (data == null) {
        throw new BackendError(
          "unsupported_tensor",
          "wasm: expected a live tensor, got a disposed one",
        );
      }
      return data.memoryOffset;
    },
    disposeView: (view) => {
      const data = wasm.dataIdMap.get(view.dataId);
      if (data == null) return;
      wasm.wasm.tfjs.disposeData(data.id);
      wasm.dataIdMap.delete(view.dataId);
    },
    run: (name, inputs, attrs) => runKernel(backendName, backend, name, inputs, attrs),
  };
}

/** The same data seen with another shape (kernels read only `dataId`, `shape` and `dtype`). */
export function reshaped(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}
