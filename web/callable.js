// A model on the page as something to call again and again (the memory and speed measurements): a layers model, or a
// graph model fed by node names; each call waits for its outputs' values and disposes them.
(function (parity) {
  'use strict';

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
   * Load the model at `job.modelUrl` (a graph model when `job.graph` gives its `inputs` and `outputs` nodes), fed
   * `xs`. Returns {model, predict, executeAsync, start}: `predict()` runs model.predict (predictAsync for a graph
   * model with control flow, which tfjs runs only asynchronously); `executeAsync()` is a graph model's, else null;
   * `start()` makes one synchronous call and returns its outputs unread (null for an asynchronous-only graph).
   */
  async function load(job, xs) {
    if (!job.graph) {
      const model = await parity.artifacts.loadLayersModel(job.modelUrl);
      const input = xs.length === 1 ? xs[0] : xs;
      const start = () => tensorsOf(model.predict(input));
      return { model, predict: () => settle(start()), executeAsync: null, start };
    }
    const model = await tf.loadGraphModel(tf.io.fromMemory(await parity.artifacts.load(job.modelUrl)));
    const feeds = Object.fromEntries(job.graph.inputs.map((node, k) => [node, xs[k]]));
    let start = () => tensorsOf(model.predict(feeds));
    let predict = () => settle(start());
    try {
      tf.dispose(tf.tidy(start));
    } catch (error) {
      if (!/dynamic op/.test(error.message)) throw error;
      start = null;
      predict = async () => settle(await model.predictAsync(feeds));
    }
    const executeAsync = async () => settle(await model.executeAsync(feeds, job.graph.outputs));
    return { model, predict, executeAsync, start };
  }

  parity.callable = { load, settle };
})(self.parity = self.parity || {});
