// The page's side of worker training: start a dedicated worker on the page's backend, collect its
// per-epoch progress, and return its result.
(function (parity) {
  'use strict';

  /** Train `job` in a fresh Web Worker with the page's backend and flags, or on `backend` ({name, flags, wasmThreads, emulation}). */
  function train(job, backend = null) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(`/web/worker.js${parity.tfjsQuery}`);
      const progress = [];
      const started = performance.now();
      const finish = (settle, value) => { worker.terminate(); settle(value); };
      worker.onmessage = ({ data }) => {
        if (data.type === 'epoch') {
          progress.push({ epoch: data.epoch, logs: data.logs, atMs: performance.now() - started });
        } else if (data.type === 'done') {
          finish(resolve, { ...data.result, progress, workerInfo: data.info });
        } else {
          finish(reject, parity.errors.rethrown(`in the worker: ${data.error}`, data.place, data.frame));
        }
      };
      worker.onerror = event => {
        finish(reject, new Error(`worker script error: ${event.message} (${event.filename}:${event.lineno})`));
      };
      const { name, flags, wasmThreads = null, emulation = null } = backend || parity.backends.current();
      worker.postMessage({ backend: name, flags, wasmThreads, emulation, job });
    });
  }

  parity.workers = { train };
})(self.parity = self.parity || {});
