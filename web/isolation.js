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

  /**
   * Records every kernel tfjs runs (top level: a kernel's own helpers are not kernels) while `recorder.on`,
   * until the inputs and outputs kept pass `maxBytes` (then `truncated`); `stop()` removes it.
   */
  function kernelRecorder(maxBytes = Infinity) {
    const engine = tf.engine();
    const original = engine.runKernel;
    const recorder = { on: false, kernels: [], bytes: 0, truncated: false, stop() { engine.runKernel = original; } };
    engine.runKernel = function (name, inputs, attrs) {
      const out = original.call(this, name, inputs, attrs);
      if (recorder.on && !recorder.truncated) {
        const outs = Array.isArray(out) ? out : [out];
        const kernel = {
          name,
          attrs: plainAttrs(attrs),
          inputs: Object.entries(inputs || {}).filter(([, t]) => t instanceof tf.Tensor)
            .map(([key, t]) => ({ key, tensor: parity.tensors.encodeSync(t) })),
          outputs: outs.map(parity.tensors.encodeSync),
        };
        recorder.bytes += [...kernel.inputs.map(i => i.tensor), ...kernel.outputs].reduce((n, t) => n + t.b64.length, 0);
        if (recorder.bytes > maxBytes) recorder.truncated = true;
        else recorder.kernels.push(kernel);
      }
      return out;
    };
    return recorder;
  }

  /** `work()`'s value and every kernel tfjs ran for it. */
  function recordingKernels(work) {
    const recorder = kernelRecorder();
    recorder.on = true;
    try {
      return { value: work(), kernels: recorder.kernels };
    } finally {
      recorder.stop();
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

  parity.isolation = { layerAlone, kernelAlone, kernelRecorder };
})(self.parity = self.parity || {});
