// How fast a model runs on this page's backend once it is warm (its first call and WebGL's shader compilation are
// predict's, models.js): loading, the steady latency of calls, and the most memory a call takes. Python tabulates the
// figures per backend (the speed check, and the report's speed table).
(function (parity) {
  'use strict';
  const MIN_CALLS = 5;  // a median and a 90th percentile need a few calls, however slow the model

  async function timed(work) {
    const started = performance.now();
    await work();
    return performance.now() - started;
  }

  /** What draws on WebGL (its unmasked renderer) or WebGPU (its adapter), or null on cpu and wasm. */
  function renderer() {
    const backend = tf.getBackend();
    if (backend === 'webgl') {
      const gl = tf.backend().gpgpu.gl;
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    }
    if (backend === 'webgpu') {
      const info = tf.backend().adapterInfo || {};
      return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'webgpu adapter';
    }
    return null;
  }

  /** The highest tf.memory().numBytes during one call (tf.profile), less `before`. */
  async function peakBytes(loaded, before) {
    const profile = await tf.profile(() => loaded.predict());
    return profile.peakBytes - before;
  }

  /**
   * Load `job.modelUrl` fresh (as callable.load), time the load, a warm-up call (at `job.inputs`' batch: its shaders
   * may be new) and up to `job.calls` later calls while they take less than `job.budgetMs` together (at least
   * MIN_CALLS), measure the peak bytes of a call over what the page held before loading, then dispose the model.
   */
  async function run(job) {
    const before = tf.memory().numBytes;
    const xs = job.inputs.map(parity.tensors.decode);
    const inputBytes = tf.memory().numBytes - before;
    let loaded = null;
    try {
      const loadStarted = performance.now();
      loaded = await parity.callable.load(job, xs);
      const loadMs = performance.now() - loadStarted;
      const firstMs = await timed(loaded.predict);
      const laterMs = [];
      const started = performance.now();
      while (laterMs.length < job.calls && (laterMs.length < MIN_CALLS || performance.now() - started < job.budgetMs)) {
        laterMs.push(await timed(loaded.predict));
      }
      const peak = await peakBytes(loaded, before + inputBytes);
      return { loadMs, firstMs, laterMs, peakBytes: peak, renderer: renderer() };
    } finally {
      if (loaded) loaded.model.dispose();
      tf.dispose(xs);
    }
  }

  parity.speed = { run };
})(self.parity = self.parity || {});
