// Dedicated Web Worker: trains one job off the main thread (WebGL through OffscreenCanvas) and
// reports each epoch's logs, then the result, back to the page.
importScripts('/web/tfjs_versions.js', '/web/errors.js');
importScripts(
  ...parity.tfjsBundles,
  '/web/tensors.js',
  '/web/backends.js',
  '/web/artifacts.js',
  '/web/training.js',
);

self.onmessage = async ({ data }) => {
  try {
    const info = await parity.backends.setBackend(data.backend, data.flags, data.wasmThreads, data.emulation);
    const onEpoch = (epoch, logs) => self.postMessage({ type: 'epoch', epoch, logs });
    const result = await parity.training.run(data.job, onEpoch);
    self.postMessage({ type: 'done', result, info });
  } catch (error) {
    const { place, frame } = parity.errors.thrownIn(error);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    self.postMessage({ type: 'error', error: message, place, frame });
  }
};
