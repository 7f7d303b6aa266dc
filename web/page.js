// The API the Python side calls. Every call runs as a job: `start` returns at once and Python
// polls `poll` with its own timeout, so a hung page cannot hang the harness.
(function (parity) {
  'use strict';
  const operations = {
    info: () => parity.backends.info(),
    setBackend: (name, flags, wasmThreads, emulation) =>
      parity.backends.setBackend(name, flags, wasmThreads, emulation),
    load: url => parity.models.load(url),
    topology: modelId => parity.models.topology(modelId),
    predict: (modelId, inputs, repeats, budgetMs) => parity.models.predict(modelId, inputs, repeats, budgetMs),
    layerOutputs: (modelId, inputs) => parity.models.layerOutputs(modelId, inputs),
    withInnerOutputs: (modelId, names) => parity.models.withInnerOutputs(modelId, names),
    perturbWeight: (modelId, name, index, delta) => parity.models.perturbWeight(modelId, name, index, delta),
    mostVisible: (modelId, inputs, directions, names) => parity.models.mostVisible(modelId, inputs, directions, names),
    plant: (modelId, inputs, fault) => parity.models.plant(modelId, inputs, fault),
    dispose: modelId => parity.models.dispose(modelId),
    train: job => measured(progress => parity.training.run(job, (epoch, logs) => progress.push({ epoch, logs }))),
    trainInWorker: job => measured(() => parity.storage.trainInWorker(job)),
    coreApi: job => parity.training.coreApi(job),
    fingerprint: (modelId, inputs, withValues) => parity.storage.fingerprint(modelId, inputs, withValues),
    save: (modelId, url) => parity.storage.save(modelId, url),
    trainedModel: job => parity.storage.trainedModel(job),
    listModels: () => parity.storage.listModels(),
    clearStorage: () => parity.storage.clearStorage(),
    copyModel: (from, to) => parity.storage.copyModel(from, to),
    moveModel: (from, to) => parity.storage.moveModel(from, to),
    removeModel: url => parity.storage.removeModel(url),
    tamperStored: url => parity.storage.tamperStored(url),
    graphRun: (url, inputs, outputs) => parity.graph.run(url, inputs, outputs),
    memory: job => parity.memory.run(job),
    speed: job => parity.speed.run(job),
    graphNodes: (url, inputs, names) => parity.graph.nodeOutputs(url, inputs, names),
    layerAlone: (modelId, name, inputs, record) => parity.isolation.layerAlone(modelId, name, inputs, record),
    kernelAlone: (name, inputs, attrs) => parity.isolation.kernelAlone(name, inputs, attrs),
    openRepro: (url, timeoutMs) => parity.repro.openRepro(url, timeoutMs),
    addScript: url => parity.preflight.addScript(url),
    registeredClasses: () => parity.preflight.registeredClasses(),
    probeLayers: probes => parity.preflight.probeLayers(probes),
  };
  const finished = new Map();
  const pending = new Map();  // job -> its operation's name, until polled

  /** Run `work(progress)` while measuring main-thread responsiveness; merge both into one result. */
  async function measured(work) {
    const progress = [];
    const { value, responsiveness } = await parity.responsiveness.whileMeasuring(() => work(progress));
    return { progress, ...value, responsiveness };
  }
  let nextJob = 1;

  function describe(error) {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return typeof error === 'string' ? error : JSON.stringify(error);
  }

  /** Start operation `op` with `args`; returns a job id for `poll`. */
  function start(op, args) {
    const job = nextJob++;
    const operation = operations[op];
    const run = operation
      ? Promise.resolve().then(() => operation(...args))
      : Promise.reject(new Error(`unknown operation '${op}'`));
    pending.set(job, op);
    run.then(value => finished.set(job, parity.backends.lost() ? lostDuring(op)
                                        : { ok: true, value: value === undefined ? null : value }),
             error => finished.set(job, parity.backends.lost() ? lostDuring(op, error)
                                        : { ok: false, error: describe(error), thrownIn: parity.errors.thrownIn(error) }));
    return job;
  }

  /** The outcome of a job on a page whose WebGL context was lost (its work may never finish). */
  function lostDuring(op, error = null) {
    return { ok: false, error: `${parity.backends.lost()} during '${op}'${error ? `: ${describe(error)}` : ''}` };
  }

  /** The job's outcome once it has finished ({ok, value} or {ok: false, error, thrownIn}), else null; at once an error when
   * the WebGL context is lost, since tfjs may then wait forever for the GPU. */
  function poll(job) {
    const outcome = finished.get(job) || (parity.backends.lost() && lostDuring(pending.get(job)));
    if (!outcome) return null;
    finished.delete(job);
    pending.delete(job);
    return outcome;
  }

  parity.start = start;
  parity.poll = poll;
})(self.parity = self.parity || {});
