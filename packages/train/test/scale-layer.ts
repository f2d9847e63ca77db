// A custom tfjs-layers layer for the DataParallel tests: a learned per-channel scale, registered
// under the class name "CnnkitTestScale". Workers learn it through DataParallel's `setup`.
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

export class CnnkitTestScale extends tfl.layers.Layer {
  static className = "CnnkitTestScale";
  private scale: tfl.LayerVariable | null = null;

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = inputShape as tfl.Shape;
    this.scale = this.addWeight(
      "scale",
      [shape[shape.length - 1]!],
      "float32",
      tfl.initializers.ones(),
    );
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.mul(x, this.scale!.read());
  }
}
tf.serialization.registerClass(CnnkitTestScale);
