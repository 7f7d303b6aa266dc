// Backend selection and the facts the report needs about the active backend.
(function (parity) {
  'use strict';
  const WASM_DIST = `/tfjs/tfjs-backend-wasm${parity.tfjsSuffix}/`;
  let active = null;

  /**
   * Activate a backend. `flags` are tf.env() flags set before the backend initialises,
   * e.g. {WEBGL_PACK: false}; `wasmThreads` sets the threaded WASM binary's thread count (tfjs'
   * default is half the logical cores, so 1 on a 2-core machine). Returns info() for the backend now active.
   */
  async function setBackend(name, flags = {}, wasmThreads = null) {
    for (const [flag, value] of Object.entries(flags)) tf.env().set(flag, value);
    if (name === 'wasm') {
      tf.wasm.setWasmPaths(WASM_DIST);
      if (wasmThreads) {
        tf.wasm.setThreadsCount(wasmThreads);
        // tfjs' WASM worker pool has hardwareConcurrency / 2 workers (1 on a 2-core machine), and the
        // thread count cannot exceed it: report enough cores for the pool to hold `wasmThreads`.
        const cores = Math.max(navigator.hardwareConcurrency || 1, 2 * wasmThreads);
        Object.defineProperty(Object.getPrototypeOf(navigator), 'hardwareConcurrency', { get: () => cores });
      }
    }
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tf.setBackend('${name}') failed: backend could not be initialised`);
    await tf.ready();
    if (tf.getBackend() !== name) {
      throw new Error(`asked for backend '${name}' but '${tf.getBackend()}' is active`);
    }
    active = { name, flags, wasmThreads };
    if (name === 'webgl') watchContext(tf.backend().gpgpu.gl);
    return info();
  }

  let contextLost = false;

  /** Note when the WebGL context is lost (a GPU process crash, WEBGL_lose_context): every later call fails. */
  function watchContext(gl) {
    if (gl.isContextLost()) contextLost = true;
    gl.canvas.addEventListener('webglcontextlost', () => { contextLost = true; });
  }

  /** Why this page can no longer be trusted to compute, or null. */
  function lost() {
    return contextLost ? 'the WebGL context was lost (the GPU process crashed or the context was taken away)' : null;
  }

  function webglRenderer() {
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    if (!gl) return null;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
  }

  /** The WASM binaries this page (or worker) fetched: proof of which one tfjs really runs. */
  function wasmBinaries() {
    return performance.getEntriesByType('resource')
      .map(entry => new URL(entry.name).pathname.split('/').pop())
      .filter(name => name.endsWith('.wasm'));
  }

  async function flagOrNull(name) {
    try { return await tf.env().getAsync(name); } catch (e) { return null; }
  }

  /** Versions and backend facts: what the report's environment block records. */
  async function info() {
    const backend = tf.getBackend();
    const facts = {
      tfjsVersion: tf.version.tfjs,
      backend,
      crossOriginIsolated: self.crossOriginIsolated === true,
      userAgent: navigator.userAgent,
      webglRenderer: webglRenderer(),
      webglRenderFloat32Enabled: await flagOrNull('WEBGL_RENDER_FLOAT32_ENABLED'),
      webglVersion: await flagOrNull('WEBGL_VERSION'),
      webglPack: await flagOrNull('WEBGL_PACK'),
      webglForceF16Textures: await flagOrNull('WEBGL_FORCE_F16_TEXTURES'),
      wasmSimd: await flagOrNull('WASM_HAS_SIMD_SUPPORT'),
      wasmMultithread: await flagOrNull('WASM_HAS_MULTITHREAD_SUPPORT'),
      wasmThreads: null,
      wasmBinary: null,
      webgpuAvailable: typeof navigator.gpu !== 'undefined',
      floatPrecision: backend ? tf.backend().floatPrecision() : null,
    };
    if (backend === 'wasm') {
      facts.wasmThreads = tf.wasm.getThreadsCount();
      const binaries = wasmBinaries();
      facts.wasmBinary = binaries.length === 1 ? binaries[0] : binaries.join(',') || null;
    }
    return facts;
  }

  /** The backend name, flags and WASM thread count last activated here (a worker repeats them). */
  function current() {
    if (!active) throw new Error('no backend has been set on this page');
    return active;
  }

  parity.backends = { setBackend, info, current, lost };
})(self.parity = self.parity || {});
