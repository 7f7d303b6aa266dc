// Training on the page or in a Web Worker: one job description from Python, run the tfjs way.
// A job loads a fresh copy of the converted model (Python's starting weights), compiles it with
// the optimizer Python describes, trains, and returns histories, final weights and predictions.
(function (parity) {
  'use strict';

  /** A tf.train optimizer with every hyper-parameter given (see harness/reference/optimizers.py). */
  function optimizer(config) {
    switch (config.name) {
      case 'sgd': return tf.train.sgd(config.learningRate);
      case 'momentum': return tf.train.momentum(config.learningRate, config.momentum, config.useNesterov);
      case 'adagrad': return tf.train.adagrad(config.learningRate, config.initialAccumulatorValue);
      case 'adadelta': return tf.train.adadelta(config.learningRate, config.rho, config.epsilon);
      case 'adam': return tf.train.adam(config.learningRate, config.beta1, config.beta2, config.epsilon);
      case 'adamax': return tf.train.adamax(config.learningRate, config.beta1, config.beta2, config.epsilon, 0);
      case 'rmsprop':
        return tf.train.rmsprop(config.learningRate, config.decay, config.momentum, config.epsilon, config.centered);
      default: throw new Error(`unknown optimizer '${config.name}'`);
    }
  }

  /** `fn` under `name`: tfjs-layers names a metric or loss function by its function name. */
  function named(name, fn) {
    Object.defineProperty(fn, 'name', { value: name });
    return fn;
  }

  /**
   * A loss as harness/reference/losses.py describes it: tfjs-layers' loss name, or, for Keras' from_logits and
   * label_smoothing, the function a tfjs user compiles with: tf.losses' softmax and sigmoid cross-entropies take
   * logits and a label smoothing (per-sample, reduction NONE: tfjs-layers takes the mean), and probabilities with
   * smoothed labels go through tf.metrics' cross-entropies.
   */
  function loss(spec) {
    if (typeof spec === 'string') return spec;
    const none = tf.Reduction.NONE;
    const smoothing = spec.labelSmoothing || 0;
    switch (spec.name) {
      case 'categoricalCrossentropy':
        return named(spec.name, spec.fromLogits
          ? (yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, smoothing, none)
          : (yTrue, yPred) => tf.metrics.categoricalCrossentropy(
            yTrue.mul(1 - smoothing).add(smoothing / yTrue.shape[yTrue.rank - 1]), yPred));
      case 'binaryCrossentropy':
        return named(spec.name, spec.fromLogits
          ? (yTrue, yPred) => tf.losses.sigmoidCrossEntropy(yTrue, yPred, undefined, smoothing, none)
          : (yTrue, yPred) => tf.metrics.binaryCrossentropy(yTrue.mul(1 - smoothing).add(0.5 * smoothing), yPred));
      default: throw new Error(`loss '${spec.name}': no logits or label smoothing form`);
    }
  }

  function losses(config) {
    if (typeof config === 'string' || 'fromLogits' in config) return loss(config);
    return Object.fromEntries(Object.entries(config).map(([output, spec]) => [output, loss(spec)]));
  }

  /** Each output's metrics (harness/reference/metrics.py): tfjs' own string, or a tf.metrics function by name. */
  function metrics(config) {
    const build = m => m.string || named(m.name, (yTrue, yPred) => tf.metrics[m.function](yTrue, yPred));
    return Object.fromEntries(Object.entries(config).map(([output, list]) => [output, list.map(build)]));
  }

  // Dropout masks come from each side's own random generator and can never match: off on both sides.
  function compile(model, config) {
    model.layers.forEach(layer => { if (layer.getClassName() === 'Dropout') layer.rate = 0; });
    model.compile({ optimizer: optimizer(config.optimizer), loss: losses(config.loss), metrics: metrics(config.metrics) });
  }

  function decodeAll(encoded) {
    return encoded.map(parity.tensors.decode);
  }

  function single(tensors) {
    return tensors.length === 1 ? tensors[0] : tensors;
  }

  /** One sample (row `i`) of each tensor, keyed by name for several inputs/outputs. */
  function sample(tensors, names, i) {
    const rows = tensors.map(t => tf.tidy(() => t.gather(i)));
    if (rows.length === 1) return rows[0];
    return Object.fromEntries(names.map((name, k) => [name, rows[k]]));
  }

  /** tf.data.generator over the inputs, zipped with one over the targets, batched. */
  function zippedDataset(model, xs, ys, batchSize) {
    const count = xs[0].shape[0];
    const inputs = tf.data.generator(function* () { for (let i = 0; i < count; i++) yield sample(xs, model.inputNames, i); });
    const targets = tf.data.generator(function* () { for (let i = 0; i < count; i++) yield sample(ys, model.outputNames, i); });
    return tf.data.zip({ xs: inputs, ys: targets }).batch(batchSize);
  }

  async function finalWeights(model) {
    return Promise.all(model.weights.map(async w => ({ name: w.originalName, value: await parity.tensors.encode(w.read()) })));
  }

  function callbacks(onEpoch, extra) {
    const list = [...extra];
    if (onEpoch) list.push(new tf.CustomCallback({ onEpochEnd: async (epoch, logs) => onEpoch(epoch, logs) }));
    return list;
  }

  /** `model.evaluate`: {name: value} in tfjs' metric names. */
  async function evaluate(model, xs, ys, job) {
    const scalars = [].concat(model.evaluate(single(xs), single(ys), { batchSize: job.batchSize }));
    const values = await Promise.all(scalars.map(s => s.data()));
    tf.dispose(scalars);
    return { results: Object.fromEntries(model.metricsNames.map((name, i) => [name, values[i][0]])) };
  }

  /**
   * Transfer learning, split as harness/training_references.py splits it: `extractor` runs the frozen
   * base (inputs to layer `headFrom`) in inference mode; `head` is the layers after it, sharing their
   * weights with `model`. (Fitting `model` itself would run its BatchNormalization layers on batch
   * statistics: tfjs ignores `trainable` there, Keras 2 keeps a frozen one in inference mode.)
   */
  function splitHead(model, headFrom) {
    const index = model.layers.findIndex(layer => layer.name === headFrom);
    if (index < 0) throw new Error(`fine-tune: no layer '${headFrom}' in the model`);
    const features = model.layers[index].output;
    const input = tf.input({ shape: features.shape.slice(1) });
    const output = model.layers.slice(index + 1).reduce((x, layer) => layer.apply(x), input);
    return { extractor: tf.model({ inputs: model.inputs, outputs: features }), head: tf.model({ inputs: input, outputs: output }) };
  }

  /** Train only the head on the base's features; predictions (if asked) come from the whole model. */
  async function fineTune(model, xs, ys, job, onEpoch) {
    const { extractor, head } = splitHead(model, job.headFrom);
    const features = extractor.predict(single(xs), { batchSize: job.batchSize });
    try {
      compile(head, job.compile);
      return await train(head, [features], ys, job, onEpoch, model);
    } finally {
      features.dispose();
      if (head.optimizer) head.optimizer.dispose();
      head.dispose();
    }
  }

  /**
   * With `job.recordKernels` ({batches, maxBytes}, on the page only): a callback recording every kernel of the
   * first epoch's first `batches` batches (each kernel tagged with its batch), and the recorder.
   */
  function kernelRecording(job) {
    if (!job.recordKernels) return { extra: [], recorder: null };
    const { batches, maxBytes } = job.recordKernels;
    const recorder = parity.isolation.kernelRecorder(maxBytes);
    let epoch = 0, batch = 0, from = 0;
    const callback = new tf.CustomCallback({
      onEpochBegin: async e => { epoch = e; },
      onBatchBegin: async b => { batch = b; from = recorder.kernels.length; recorder.on = epoch === 0 && b < batches; },
      onBatchEnd: async () => {
        recorder.on = false;
        for (const kernel of recorder.kernels.slice(from)) kernel.batch = batch;
      },
    });
    return { extra: [callback], recorder };
  }

  /** `model.fit` or `model.fitDataset`, then the final weights and (if asked) `predictor`'s predictions. */
  async function train(model, xs, ys, job, onEpoch, predictor = model) {
    const stopper = job.earlyStopping ? tf.callbacks.earlyStopping({ ...job.earlyStopping, mode: 'min' }) : null;
    const { extra, recorder } = kernelRecording(job);
    const list = callbacks(onEpoch, [...(stopper ? [stopper] : []), ...extra]);
    let history;
    try {
      history = job.mode === 'fitDataset'
        ? await model.fitDataset(zippedDataset(model, xs, ys, job.batchSize), { epochs: job.epochs, callbacks: list })
        : await model.fit(single(xs), single(ys), {
          epochs: job.epochs, batchSize: job.batchSize, shuffle: job.shuffle === true,
          validationSplit: job.validationSplit || 0, callbacks: list,
        });
    } finally {
      if (recorder) recorder.stop();
    }
    const result = { history: history.history, stoppedEpoch: stopper ? stopper.stoppedEpoch : null,
                     weights: await finalWeights(model), outputs: null,
                     artifacts: job.saveArtifacts ? await parity.artifacts.toArtifacts(model) : null,
                     ...(recorder ? { kernels: recorder.kernels, kernelsTruncated: recorder.truncated } : {}) };
    if (job.predict) {
      const inputs = decodeAll(job.predict);
      const outputs = [].concat(predictor.predict(single(inputs)));
      result.outputs = await Promise.all(outputs.map(parity.tensors.encode));
      tf.dispose([inputs, outputs]);
    }
    return result;
  }

  function trainWhole(model, xs, ys, job, onEpoch) {
    compile(model, job.compile);
    return job.mode === 'evaluate' ? evaluate(model, xs, ys, job) : train(model, xs, ys, job, onEpoch);
  }

  /**
   * Run a training job: `job.mode` is 'fit', 'fitDataset', 'fineTune' (with `job.headFrom`) or 'evaluate'. `onEpoch(epoch, logs)` is
   * called after each epoch. Returns {history, stoppedEpoch, weights, outputs, artifacts, ms} (artifacts:
   * the trained model as tfjs would save it, when `job.saveArtifacts`) or {results, ms}.
   */
  async function run(job, onEpoch) {
    const model = await parity.artifacts.loadLayersModel(job.modelUrl);
    const xs = decodeAll(job.x);
    const ys = decodeAll(job.y);
    const started = performance.now();
    try {
      const work = job.mode === 'fineTune' ? fineTune : trainWhole;
      const result = await work(model, xs, ys, job, onEpoch);
      return { ...result, ms: performance.now() - started };
    } finally {
      tf.dispose([xs, ys]);
      if (model.optimizer) model.optimizer.dispose();
      model.dispose();
    }
  }

  /**
   * The seeds' Core API recipe: tf.variable weights, relu(x.matMul(w1).add(b1)).matMul(w2).add(b2),
   * optimizer.minimize with tf.losses.softmaxCrossEntropy. Returns per-step losses and final variables.
   */
  async function coreApi(job) {
    const [w1, b1, w2, b2] = decodeAll(job.variables).map(t => tf.variable(t));
    const xs = decodeAll(job.x)[0];
    const ys = decodeAll(job.y)[0];
    const train = optimizer(job.optimizer);
    const model = x => x.matMul(w1).add(b1).relu().matMul(w2).add(b2);
    const losses = [];
    try {
      for (let pass = 0; pass < job.passes; pass++) {
        for (let start = 0; start < xs.shape[0]; start += job.batchSize) {
          const size = Math.min(job.batchSize, xs.shape[0] - start);
          const loss = tf.tidy(() => train.minimize(() => {
            const x = xs.slice(start, size);
            const y = ys.slice(start, size);
            return tf.losses.softmaxCrossEntropy(y, model(x));
          }, true, [w1, b1, w2, b2]));
          losses.push((await loss.data())[0]);
          loss.dispose();
        }
      }
      const variables = await Promise.all([w1, b1, w2, b2].map(parity.tensors.encode));
      return { losses, variables };
    } finally {
      tf.dispose([w1, b1, w2, b2, xs, ys]);
      train.dispose();
    }
  }

  parity.training = { run, coreApi };
})(self.parity = self.parity || {});
