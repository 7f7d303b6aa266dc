// Layers models on the page: load, describe, predict, and deliberate damage for teeth tests.
(function (parity) {
  'use strict';
  const loaded = new Map();
  let nextId = 1;

  function get(modelId) {
    const model = loaded.get(modelId);
    if (!model) throw new Error(`no loaded model with id ${modelId}`);
    return model;
  }

  /** Keep `model` on this page; returns its id. */
  function register(model) {
    const modelId = nextId++;
    loaded.set(modelId, model);
    return modelId;
  }

  /** Load a layers model from `url` (a model.json, or localstorage:// / indexeddb://); returns its id. */
  async function load(url) {
    try {
      return register(await parity.artifacts.loadLayersModel(url));
    } catch (error) {
      throw new Error(`loading ${url}: ${error.message}`);
    }
  }

  /** Weight names (as saved by the converter), shapes and dtypes, plus the parameter count. */
  function topology(modelId) {
    const model = get(modelId);
    return {
      weights: model.weights.map(w => ({ name: w.originalName, shape: w.shape, dtype: w.dtype })),
      params: model.countParams(),
      inputNames: model.inputNames,
      outputNames: model.outputNames,
    };
  }

  async function runOnce(model, inputs) {
    const xs = inputs.map(parity.tensors.decode);
    const started = performance.now();
    const result = model.predict(xs.length === 1 ? xs[0] : xs);
    const ys = Array.isArray(result) ? result : [result];
    await Promise.all(ys.map(y => y.data()));  // include the download in the timing
    const elapsedMs = performance.now() - started;
    xs.forEach(x => x.dispose());
    return { ys, elapsedMs };
  }

  function sameBytes(a, b) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }

  /**
   * Predict `repeats` times on the same inputs. Returns the first call's outputs, its time, the
   * median time of the later calls, and whether every later call gave bit-identical outputs.
   */
  async function predict(modelId, inputs, repeats = 5) {
    const model = get(modelId);
    const first = await runOnce(model, inputs);
    const firstData = await Promise.all(first.ys.map(y => y.data()));
    const laterMs = [];
    let repeatable = true;
    for (let i = 1; i < repeats; i++) {
      const later = await runOnce(model, inputs);
      laterMs.push(later.elapsedMs);
      const laterData = await Promise.all(later.ys.map(y => y.data()));
      repeatable = repeatable && laterData.every((d, k) => sameBytes(d, firstData[k]));
      later.ys.forEach(y => y.dispose());
    }
    const outputs = await Promise.all(first.ys.map(parity.tensors.encode));
    first.ys.forEach(y => y.dispose());
    laterMs.sort((a, b) => a - b);
    const medianMs = laterMs.length ? laterMs[Math.floor(laterMs.length / 2)] : null;
    return { outputs, firstMs: first.elapsedMs, medianMs, repeatable };
  }

  /**
   * Every layer's activations on `inputs`, in the model's layer order: a probe model with each layer's
   * output as an output (layers called more than once are left out: their output is ambiguous).
   */
  async function layerOutputs(modelId, inputs) {
    const model = get(modelId);
    const names = [];
    const symbolic = [];
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer' || layer.inboundNodes.length !== 1) continue;
      const outputs = Array.isArray(layer.output) ? layer.output : [layer.output];
      outputs.forEach((output, k) => {
        names.push(outputs.length === 1 ? layer.name : `${layer.name}[${k}]`);
        symbolic.push(output);
      });
    }
    const probe = tf.model({ inputs: model.inputs, outputs: symbolic });
    const xs = inputs.map(parity.tensors.decode);
    const result = probe.predict(xs.length === 1 ? xs[0] : xs);
    const ys = Array.isArray(result) ? result : [result];
    const encoded = await Promise.all(ys.map(parity.tensors.encode));
    tf.dispose([...xs, ...ys]);
    return names.map((name, i) => ({ name, tensor: encoded[i] }));
  }

  /** Add `delta` to one element (flat index) of the weight named `name`: for teeth tests. */
  function perturbWeight(modelId, name, flatIndex, delta) {
    const variable = get(modelId).weights.find(w => w.originalName === name);
    if (!variable) throw new Error(`model ${modelId} has no weight named ${name}`);
    const values = variable.read().dataSync().slice();
    values[flatIndex] += delta;
    variable.write(tf.tensor(values, variable.shape, variable.dtype));
  }

  function dispose(modelId) {
    get(modelId).dispose();
    loaded.delete(modelId);
  }

  parity.models = { get, register, load, topology, predict, layerOutputs, perturbWeight, dispose };
})(self.parity = self.parity || {});
