// Whether a model gives back every tensor and byte it takes: tf.memory() around each stage of its life on the page
// (load, repeated calls, one epoch of training, a save and load, dispose). Python judges the counts (checks/memory.py).
(function (parity) {
  'use strict';
  // The engine's own counts (exact on every backend, whatever `unreliable` says of the backend's figures), and on
  // WebGL the bytes of the textures tensors hold.
  const COUNTERS = ['numTensors', 'numDataBuffers', 'numBytes', 'numBytesInGPU'];
  const MIN_CALLS = 3;  // growth per call needs a few calls, however slow the model

  function snapshot() {
    const memory = tf.memory();
    return Object.fromEntries(COUNTERS.filter(name => typeof memory[name] === 'number').map(name => [name, memory[name]]));
  }

  function tensorsOf(result) {
    if (result instanceof tf.Tensor) return [result];
    return Array.isArray(result) ? result : Object.values(result);
  }

  /** Wait for every output's values (on WebGL and WebGPU the work ends there), then dispose them. */
  async function settle(result) {
    const outputs = tensorsOf(result);
    await Promise.all(outputs.map(output => output.data()));
    tf.dispose(outputs);
  }

  /**
   * `call` once to warm up, then up to `calls` more while they take less than `budgetMs` together (at least
   * MIN_CALLS): the counts after warm-up (`before`) and after each later call (`after`).
   */
  async function repeated(name, call, calls, budgetMs) {
    await call();
    const before = snapshot();
    const after = [];
    const started = performance.now();
    while (after.length < calls && (after.length < MIN_CALLS || performance.now() - started < budgetMs)) {
      await call();
      after.push(snapshot());
    }
    return { name, before, after };
  }

  /** `work` once: the counts before and after it; a throw is kept as the stage's `error`, the run goes on. */
  async function once(name, work) {
    const before = snapshot();
    try {
      const note = await work();
      return { name, before, after: [snapshot()], note: note || null };
    } catch (error) {
      return { name, before, after: [snapshot()], error: `${error.name}: ${error.message}` };
    }
  }

  async function layersStages(job, xs) {
    const model = await parity.artifacts.loadLayersModel(job.modelUrl);
    const input = xs.length === 1 ? xs[0] : xs;
    const stages = [await repeated('predict', () => settle(model.predict(input)), job.calls, job.budgetMs)];
    if (job.training) {
      stages.push(await once('fit', async () => {
        await parity.training.run(job.training, null);
        return null;
      }));
    }
    stages.push(await once('save and load', async () => {
      const copy = await parity.artifacts.fromArtifacts(await parity.artifacts.toArtifacts(model));
      try {
        await settle(copy.predict(input));
      } finally {
        copy.dispose();
      }
    }));
    return { model, stages };
  }

  async function graphStages(job, xs) {
    const model = await tf.loadGraphModel(tf.io.fromMemory(await parity.artifacts.load(job.modelUrl)));
    const feeds = Object.fromEntries(job.graph.inputs.map((node, k) => [node, xs[k]]));
    let predict = () => settle(model.predict(feeds));
    try {
      tf.dispose(tf.tidy(() => model.predict(feeds)));
    } catch (error) {  // control flow (an LSTM's while loop): tfjs runs it only asynchronously
      if (!/dynamic op/.test(error.message)) throw error;
      predict = async () => settle(await model.predictAsync(feeds));
    }
    const stages = [
      await repeated('predict', predict, job.calls, job.budgetMs),
      await repeated('executeAsync', async () => settle(await model.executeAsync(feeds, job.graph.outputs)),
                     job.calls, job.budgetMs),
    ];
    stages.push(await once('save and load', async () => {
      const artifacts = await parity.artifacts.toArtifacts(model);
      const copy = await tf.loadGraphModel(tf.io.fromMemory({ ...artifacts, weightData: parity.artifacts.joined(artifacts.weightData) }));
      try {
        await settle(await copy.executeAsync(feeds, job.graph.outputs));
      } finally {
        copy.dispose();
      }
    }));
    return { model, stages };
  }

  /**
   * Load the model at `job.modelUrl` (a layers model, or a graph model when `job.graph` gives its input and output
   * nodes), run its stages (repeated `predict` calls, `executeAsync` calls for a graph model, one epoch of
   * `job.training` for a layers model that trains, a save and load through memory), then dispose it.
   * Returns the counts before loading (`baseline`), each stage's, and after dispose().
   */
  async function run(job) {
    const baseline = snapshot();
    const xs = job.inputs.map(parity.tensors.decode);
    let loaded = null;
    try {
      loaded = await (job.graph ? graphStages(job, xs) : layersStages(job, xs));
    } finally {
      if (loaded) loaded.model.dispose();
      tf.dispose(xs);
    }
    return { baseline, stages: loaded.stages, disposed: snapshot() };
  }

  parity.memory = { run };
})(self.parity = self.parity || {});
