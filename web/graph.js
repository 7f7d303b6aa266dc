// Graph models (converted from a SavedModel): load with tf.loadGraphModel, run with predict and
// executeAsync, and check that disposing the outputs gives every tensor back.
(function (parity) {
  'use strict';

  async function encodeAll(tensors) {
    return Promise.all(tensors.map(parity.tensors.encode));
  }

  /**
   * `model.predict` outputs in the order of `outputs` ([{key, node}]; predict returns model.outputNodes'
   * order, each named by its signature key, or by its node where the converter keyed the signature by
   * tensor names). A model with control flow (an LSTM's while loop) cannot run synchronously: tfjs says to
   * use the async form, so predictAsync runs instead and `mode` says so.
   */
  async function predictInOrder(model, feeds, outputs) {
    let result;
    let mode = 'predict';
    try {
      result = model.predict(feeds);
    } catch (error) {
      if (!/dynamic op/.test(error.message)) throw error;
      result = await model.predictAsync(feeds);
      mode = 'predictAsync';
    }
    const list = result instanceof tf.Tensor ? [result] : Array.isArray(result) ? result : Object.values(result);
    const byKey = new Map(model.outputNodes.map((node, i) => [node.split(':')[0], list[i]]));
    const tensors = outputs.map(({ key, node }) => {
      const tensor = byKey.get(key) || byKey.get(node.split(':')[0]);
      if (!tensor) throw new Error(`predict returned no output '${key}' (outputs: ${model.outputNodes})`);
      return tensor;
    });
    return { tensors, mode };
  }

  /**
   * Load the graph model at `url`, feed `inputs` ([{node, tensor}]), fetch `outputs` ([{key, node}])
   * with predict and with executeAsync. Returns both output lists, which predict ran, and
   * tf.memory().numTensors before the calls and after each call's outputs were disposed.
   */
  async function run(url, inputs, outputs) {
    const model = await tf.loadGraphModel(tf.io.fromMemory(await parity.artifacts.load(url)));
    const feeds = Object.fromEntries(inputs.map(({ node, tensor }) => [node, parity.tensors.decode(tensor)]));
    try {
      const before = tf.memory().numTensors;
      const predicted = await predictInOrder(model, feeds, outputs);
      const predict = await encodeAll(predicted.tensors);
      tf.dispose(predicted.tensors);
      const afterPredict = tf.memory().numTensors;
      const executed = await model.executeAsync(feeds, outputs.map(o => o.node));
      const executeAsync = await encodeAll([].concat(executed));
      tf.dispose(executed);
      const afterExecuteAsync = tf.memory().numTensors;
      return { predict, predictMode: predicted.mode, executeAsync, numTensors: { before, afterPredict, afterExecuteAsync } };
    } finally {
      tf.dispose(Object.values(feeds));
      model.dispose();
    }
  }

  /**
   * The outputs of graph nodes `names` (executeAsync with node names) of the graph model at `url`, fed `inputs`
   * ([{node, tensor}]: the model's inputs, or any nodes' values to run part of the graph alone).
   */
  async function nodeOutputs(url, inputs, names) {
    const model = await tf.loadGraphModel(tf.io.fromMemory(await parity.artifacts.load(url)));
    const feeds = Object.fromEntries(inputs.map(({ node, tensor }) => [node, parity.tensors.decode(tensor)]));
    try {
      const outputs = [].concat(await model.executeAsync(feeds, names));
      const encoded = await encodeAll(outputs);
      tf.dispose(outputs);
      return encoded;
    } finally {
      tf.dispose(Object.values(feeds));
      model.dispose();
    }
  }

  parity.graph = { run, nodeOutputs };
})(self.parity = self.parity || {});
