// Whether a model gives back every tensor and byte it takes: tf.memory() around each stage of its life on the page
// (load, repeated calls, one epoch of training, a save and load, dispose). Python judges the counts (the memory check).
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
      await work();
      return { name, before, after: [snapshot()] };
    } catch (error) {
      return { name, before, after: [snapshot()], error: `${error.name}: ${error.message}` };
    }
  }

  /** A layers model's stages: calls, one epoch of `job.training` if it trains, a save and load through memory. */
  async function layersStages(job, loaded, xs) {
    const input = xs.length === 1 ? xs[0] : xs;
    const stages = [await repeated('predict', loaded.predict, job.calls, job.budgetMs)];
    if (job.training) stages.push(await once('fit', () => parity.training.run(job.training, null)));
    stages.push(await once('save and load', async () => {
      const copy = await parity.artifacts.fromArtifacts(await parity.artifacts.toArtifacts(loaded.model));
      try {
        await parity.callable.settle(copy.predict(input));
      } finally {
        copy.dispose();
      }
    }));
    return stages;
  }

  /** A graph model's stages: predict calls, executeAsync calls, a save and load through memory. */
  async function graphStages(job, loaded, xs) {
    const feeds = Object.fromEntries(job.graph.inputs.map((node, k) => [node, xs[k]]));
    const stages = [await repeated('predict', loaded.predict, job.calls, job.budgetMs),
                    await repeated('executeAsync', loaded.executeAsync, job.calls, job.budgetMs)];
    stages.push(await once('save and load', async () => {
      const artifacts = await parity.artifacts.toArtifacts(loaded.model);
      const copy = await tf.loadGraphModel(tf.io.fromMemory({ ...artifacts, weightData: parity.artifacts.joined(artifacts.weightData) }));
      try {
        await parity.callable.settle(await copy.executeAsync(feeds, job.graph.outputs));
      } finally {
        copy.dispose();
      }
    }));
    return stages;
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
    let stages;
    try {
      loaded = await parity.callable.load(job, xs);
      stages = await (job.graph ? graphStages : layersStages)(job, loaded, xs);
    } finally {
      if (loaded) loaded.model.dispose();
      tf.dispose(xs);
    }
    return { baseline, stages, disposed: snapshot() };
  }

  parity.memory = { run };
})(self.parity = self.parity || {});
