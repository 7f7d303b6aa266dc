// Running part of a model alone, to tell a broken kernel from error accumulated over depth: one layer
// of a loaded model on the inputs Python gives (Keras' own inputs to that layer), optionally recording
// every tfjs kernel it runs (name, attributes, inputs, outputs); and one kernel alone on given inputs.
(function (parity) {
  'use strict';

  /** Attributes as plain JSON (tensors and functions left out). */
  function plainAttrs(attrs) {
    return JSON.parse(JSON.stringify(attrs || {}, (key, value) =>
      (value instanceof tf.Tensor || typeof value === 'function' ? undefined : value)));
  }

  /** `work()`'s value and every kernel tfjs ran for it (top level: a kernel's own helpers are not kernels). */
  function recordingKernels(work) {
    const engine = tf.engine();
    const original = engine.runKernel;
    const kernels = [];
    engine.runKernel = function (name, inputs, attrs) {
      const out = original.call(this, name, inputs, attrs);
      const outs = Array.isArray(out) ? out : [out];
      kernels.push({
        name,
        attrs: plainAttrs(attrs),
        inputs: Object.entries(inputs || {}).filter(([, t]) => t instanceof tf.Tensor)
          .map(([key, t]) => ({ key, tensor: parity.tensors.encodeSync(t) })),
        outputs: outs.map(parity.tensors.encodeSync),
      });
      return out;
    };
    try {
      return { value: work(), kernels };
    } finally {
      engine.runKernel = original;
    }
  }

  /** Layer `name` of model `modelId` alone on `inputs`: its outputs, and with `record` the kernels it ran. */
  async function layerAlone(modelId, name, inputs, record) {
    const layer = parity.models.get(modelId).getLayer(name);
    const xs = inputs.map(parity.tensors.decode);
    const run = () => layer.apply(xs.length === 1 ? xs[0] : xs);
    const { value, kernels } = record ? recordingKernels(run) : { value: run(), kernels: [] };
    const ys = Array.isArray(value) ? value : [value];
    const outputs = await Promise.all(ys.map(parity.tensors.encode));
    tf.dispose([...xs, ...ys]);
    return { outputs, kernels };
  }

  /** Kernel `name` alone on this page's backend, on `inputs` ([{key, tensor}]) with `attrs`: its outputs. */
  async function kernelAlone(name, inputs, attrs) {
    const tensors = inputs.map(({ tensor }) => parity.tensors.decode(tensor));
    const listed = inputs.every(({ key }) => /^\d+$/.test(key));  // Concat and friends take a list
    const named = listed ? tensors : Object.fromEntries(inputs.map(({ key }, i) => [key, tensors[i]]));
    const out = tf.engine().runKernel(name, named, attrs);
    const outs = Array.isArray(out) ? out : [out];
    const encoded = await Promise.all(outs.map(parity.tensors.encode));
    tf.dispose([...tensors, ...outs]);
    return encoded;
  }

  parity.isolation = { layerAlone, kernelAlone };
})(self.parity = self.parity || {});
