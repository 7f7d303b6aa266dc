// Layers models on the page: load, describe, predict, and deliberate damage for teeth tests.
(function (parity) {
  'use strict';
  const loaded = new Map();
  const views = new Map();  // `${modelId}:${layer names}` -> the id of withInnerOutputs' view of that model
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

  /** Load a layers or graph model from `url` (a model.json, or localstorage:// / indexeddb://); returns its id. */
  async function load(url) {
    try {
      return register(await parity.artifacts.loadModel(url));
    } catch (error) {
      throw new Error(`loading ${url}: ${error.message}`, { cause: error });
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
   * On WebGL, compile the shaders `model` needs for `inputs` without running them (tfjs' ENGINE_COMPILE_ONLY, as
   * tfjs' own benchmarks time compilation): {compileMs, programs} (programs: how many were new to this page), or
   * null on other backends. A model whose call reads values on the CPU cannot be compiled apart: {error}.
   */
  async function compileOnly(model, inputs) {
    if (tf.getBackend() !== 'webgl') return null;
    const backend = tf.backend();
    const known = Object.keys(backend.binaryCache).length;
    const xs = inputs.map(parity.tensors.decode);
    const started = performance.now();
    let error = null;
    tf.env().set('ENGINE_COMPILE_ONLY', true);
    try {
      tf.dispose(model.predict(xs.length === 1 ? xs[0] : xs));  // outputs never computed: not read
    } catch (thrown) {
      error = `${thrown.name}: ${thrown.message}`;
    } finally {
      tf.env().set('ENGINE_COMPILE_ONLY', false);
      tf.dispose(xs);
    }
    // What compiled, even before a throw, is made runnable (a compile-only program has no uniform locations yet).
    await backend.checkCompileCompletionAsync();
    backend.getUniformLocations();
    if (error) return { error };
    return { compileMs: performance.now() - started, programs: Object.keys(backend.binaryCache).length - known };
  }

  /**
   * Predict on the same inputs: a first call, one more (repeatability needs two), and more for the
   * latency median up to `repeats` calls in all while the later calls are expected to stay within
   * `budgetMs` together (each expected to take as long as the last). Returns the first call's outputs,
   * its time, the median time of the later calls, how many calls ran, and whether every later call
   * gave bit-identical outputs. On WebGL the first call's shader compilation is timed apart (`compile`,
   * compileOnly), and `firstMs` counts both, as an app's first call does.
   */
  async function predict(modelId, inputs, repeats = 5, budgetMs = Infinity) {
    const model = get(modelId);
    const compile = await compileOnly(model, inputs);
    const first = await runOnce(model, inputs);
    const firstData = await Promise.all(first.ys.map(y => y.data()));
    const laterMs = [];
    let repeatable = true;
    const spent = () => laterMs.reduce((sum, ms) => sum + ms, 0);
    while (1 + laterMs.length < repeats && (!laterMs.length || spent() + laterMs[laterMs.length - 1] <= budgetMs)) {
      const later = await runOnce(model, inputs);
      laterMs.push(later.elapsedMs);
      const laterData = await Promise.all(later.ys.map(y => y.data()));
      repeatable = repeatable && laterData.every((d, k) => sameBytes(d, firstData[k]));
      later.ys.forEach(y => y.dispose());
    }
    const outputs = await Promise.all(first.ys.map(parity.tensors.encode));
    first.ys.forEach(y => y.dispose());
    const calls = 1 + laterMs.length;
    laterMs.sort((a, b) => a - b);
    const medianMs = laterMs.length ? laterMs[Math.floor(laterMs.length / 2)] : null;
    const firstMs = first.elapsedMs + (compile && compile.compileMs ? compile.compileMs : 0);
    return { outputs, firstMs, medianMs, calls, repeatable, compile };
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

  /**
   * A view of model `modelId` whose outputs are its own followed by the outputs of its layers `names` (the
   * inner outputs predict compares too); it shares the model's layers and weights, so a fault planted in one is in
   * both. Made once per model and names; returns its id.
   */
  function withInnerOutputs(modelId, names) {
    const key = `${modelId}:${names.join(',')}`;
    if (!views.has(key)) {
      const model = get(modelId);
      const inner = names.map(name => {
        const layer = model.layers.find(l => l.name === name);
        if (!layer) throw new Error(`inner output ${name}: the browser model has no layer of that name`);
        return layer.output;
      });
      views.set(key, register(tf.model({ inputs: model.inputs, outputs: [...model.outputs, ...inner] })));
    }
    return views.get(key);
  }

  /** Add `delta` to one element (flat index) of the weight named `name`: for teeth tests. */
  function perturbWeight(modelId, name, flatIndex, delta) {
    const variable = get(modelId).weights.find(w => w.originalName === name);
    if (!variable) throw new Error(`model ${modelId} has no weight named ${name}`);
    const values = variable.read().dataSync().slice();
    values[flatIndex] += delta;
    variable.write(tf.tensor(values, variable.shape, variable.dtype));
  }

  /**
   * For each weight named in `names`, the flat index of its most visible element on `inputs` (`indices`) and its
   * effect (`effects`): the one whose relative change moves some output most to first order, max over
   * `directions` of |w * dL/dw|. Each direction is `{ sample, weights }`: L = sum(weights[k] * output k) on that
   * one sample (`weights[k]` shaped as output k for one sample; Python sets them from the tolerance at each
   * element). Weights frozen in the model are unfrozen for the gradients only.
   */
  function mostVisible(modelId, inputs, directions, names) {
    const model = get(modelId);
    const variables = names.map(name => {
      const variable = model.weights.find(w => w.originalName === name);
      if (!variable) throw new Error(`mostVisible: no weight named ${name}`);
      return variable;
    });
    const frozen = variables.map(v => v.trainable);
    variables.forEach(v => { v.trainable = true; });
    try {
      const xs = inputs.map(parity.tensors.decode);
      let best = variables.map(v => tf.zerosLike(v.read()));
      for (const direction of directions) {
        const next = tf.tidy(() => {
          const sample = xs.map(x => x.slice([direction.sample], [1]));
          const weights = direction.weights.map(parity.tensors.decode);
          const { grads } = tf.variableGrads(() => {
            const result = model.apply(sample.length === 1 ? sample[0] : sample, { training: false });
            const ys = Array.isArray(result) ? result : [result];
            return tf.addN(ys.map((y, k) => tf.sum(tf.mul(y, weights[k]))));
          }, variables.map(v => v.read()));
          return variables.map((v, i) => {
            const gradient = grads[v.read().name];
            return gradient ? tf.maximum(best[i], tf.abs(tf.mul(v.read(), gradient))) : best[i].clone();
          });
        });
        tf.dispose(best);
        best = next;
      }
      const indices = best.map(b => tf.tidy(() => tf.argMax(b.flatten()).dataSync()[0]));
      const effects = best.map((b, i) => tf.tidy(() => b.flatten().dataSync()[indices[i]]));
      tf.dispose([...xs, ...best]);
      return { indices, effects };
    } finally {
      variables.forEach((v, i) => { v.trainable = frozen[i]; });
    }
  }

  /**
   * Predict on `inputs` with one fault planted in the model, then undo it (`--power`). `fault.kind`:
   * 'scale' multiplies element `fault.index` (flat) of weight `fault.weight` by (1 + `fault.relative`);
   * 'transpose' transposes weight `fault.weight` (a square matrix, or a convolution kernel's two spatial axes);
   * 'float16' rounds every float32 weight to float16; 'zero' zeroes weight `fault.weight`; 'activation' makes
   * layer `fault.layer`'s activation linear. Returns the outputs, encoded.
   */
  async function plant(modelId, inputs, fault) {
    const model = get(modelId);
    const byName = name => {
      const variable = model.weights.find(w => w.originalName === name);
      if (!variable) throw new Error(`plant: no weight named ${name}`);
      return variable;
    };
    const saved = [];
    const change = (variable, make) => {
      const original = variable.read().clone();
      saved.push(() => { variable.write(original); original.dispose(); });
      const changed = tf.tidy(() => make(original));
      variable.write(changed);
      changed.dispose();
    };
    let restoreActivation = null;
    if (fault.kind === 'scale') {
      change(byName(fault.weight), w => {
        const values = w.dataSync().slice();
        values[fault.index] *= 1 + fault.relative;
        return tf.tensor(values, w.shape, w.dtype);
      });
    } else if (fault.kind === 'transpose') {
      change(byName(fault.weight), w => w.rank === 2 ? w.transpose() : w.transpose([1, 0, ...w.shape.slice(2).map((_, i) => i + 2)]));
    } else if (fault.kind === 'float16') {
      if (typeof Math.f16round !== 'function') throw new Error('plant: this browser has no Math.f16round');
      model.weights.filter(v => v.dtype === 'float32').forEach(variable => change(variable, w => {
        return tf.tensor(w.dataSync().map(Math.f16round), w.shape, w.dtype);
      }));
    } else if (fault.kind === 'zero') {
      change(byName(fault.weight), w => tf.zerosLike(w));
    } else if (fault.kind === 'activation') {
      const layer = model.getLayer(fault.layer);
      const owner = layer.cell || layer;  // a recurrent layer's activation is its cell's
      const original = owner.activation;
      owner.activation = tf.layers.dense({ units: 1, activation: 'linear' }).activation;
      restoreActivation = () => { owner.activation = original; };
    } else {
      throw new Error(`plant: unknown fault ${fault.kind}`);
    }
    try {
      const xs = inputs.map(parity.tensors.decode);
      const result = model.predict(xs.length === 1 ? xs[0] : xs);
      const ys = Array.isArray(result) ? result : [result];
      const outputs = await Promise.all(ys.map(parity.tensors.encode));
      tf.dispose([...xs, ...ys]);
      return outputs;
    } finally {
      saved.reverse().forEach(restore => restore());
      if (restoreActivation) restoreActivation();
    }
  }

  /** Forget model `modelId` and its views, and free its weights (a view's are its model's: only forgotten). */
  function dispose(modelId) {
    const model = [...views.values()].includes(modelId) ? null : get(modelId);
    for (const [key, viewId] of views) {
      if (key.startsWith(`${modelId}:`) || viewId === modelId) {
        loaded.delete(viewId);
        views.delete(key);
      }
    }
    if (model) {
      model.dispose();
      loaded.delete(modelId);
    }
  }

  parity.models = {
    get, register, load, topology, predict, layerOutputs, withInnerOutputs, perturbWeight, mostVisible, plant, dispose,
  };
})(self.parity = self.parity || {});
