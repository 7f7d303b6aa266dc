// Backend selection and the facts the report needs about the active backend.
(function (parity) {
  'use strict';
  const WASM_DIST = `/tfjs/tfjs-backend-wasm${parity.tfjsSuffix}/`;
  let active = null;

  // The smallest normal half float, 2^-14: GPUs of phones flush smaller half-float results to zero.
  const HALF_FLOAT_MIN_NORMAL = '6.103515625e-5';
  const EMULATIONS = { 'flush-half-float-subnormals': flushHalfFloatSubnormals };

  /**
   * Make every WebGL2 fragment shader tfjs compiles from now on flush its results below the smallest normal half
   * float to zero, as phone GPUs (and iOS Safari) do with half-float render targets; SwiftShader keeps subnormals.
   * tfjs' shaders write `outputColor` from one main(): that main is renamed, and a new one flushes its result.
   */
  function flushHalfFloatSubnormals() {
    const shaderSource = WebGL2RenderingContext.prototype.shaderSource;
    WebGL2RenderingContext.prototype.shaderSource = function (shader, source) {
      const fragment = this.getShaderParameter(shader, this.SHADER_TYPE) === this.FRAGMENT_SHADER;
      if (fragment && source.includes('out vec4 outputColor;') && /void main\(\)\s*\{/.test(source)) {
        source = source.replace(/void main\(\)\s*\{/, 'void parityMain() {') + `
void main() {
  parityMain();
  outputColor = mix(outputColor, vec4(0.0), lessThan(abs(outputColor), vec4(${HALF_FLOAT_MIN_NORMAL})));
}`;
      }
      return shaderSource.call(this, shader, source);
    };
  }

  /**
   * Activate a backend. `flags` are tf.env() flags set before the backend initialises,
   * e.g. {WEBGL_PACK: false}; `wasmThreads` sets the threaded WASM binary's thread count (tfjs'
   * default is half the logical cores, so 1 on a 2-core machine); `emulation` names a device behaviour
   * (EMULATIONS) installed before the backend starts. Returns info() for the backend now active.
   */
  async function setBackend(name, flags = {}, wasmThreads = null, emulation = null) {
    if (emulation) {
      if (!EMULATIONS[emulation]) throw new Error(`unknown emulation '${emulation}'`);
      if (active) throw new Error(`emulation '${emulation}' must be installed before any backend starts`);
      EMULATIONS[emulation]();
    }
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
    active = { name, flags, wasmThreads, emulation };
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
      webglRenderFloat32Capable: await flagOrNull('WEBGL_RENDER_FLOAT32_CAPABLE'),
      webglVersion: await flagOrNull('WEBGL_VERSION'),
      webglPack: await flagOrNull('WEBGL_PACK'),
      webglForceF16Textures: await flagOrNull('WEBGL_FORCE_F16_TEXTURES'),
      wasmSimd: await flagOrNull('WASM_HAS_SIMD_SUPPORT'),
      wasmMultithread: await flagOrNull('WASM_HAS_MULTITHREAD_SUPPORT'),
      wasmThreads: null,
      wasmBinary: null,
      webgpuAvailable: typeof navigator.gpu !== 'undefined',
      floatPrecision: backend ? tf.backend().floatPrecision() : null,
      emulation: active ? active.emulation : null,
      webglTinyValueReadsBack: null,
    };
    if (backend === 'webgl') facts.webglTinyValueReadsBack = await tinyValueReadsBack();
    if (backend === 'wasm') {
      facts.wasmThreads = tf.wasm.getThreadsCount();
      const binaries = wasmBinaries();
      facts.wasmBinary = binaries.length === 1 ? binaries[0] : binaries.join(',') || null;
    }
    return facts;
  }

  /** What 1e-5 (below the smallest normal half float) reads back as after one shader wrote it: 1e-5 with float32
   * render targets, about 1e-5 in half floats that keep subnormals, 0 where they are flushed (phones). The tensor
   * has 1024 elements: tfjs runs ops on fewer than 128 on the CPU (WEBGL_CPU_FORWARD). */
  async function tinyValueReadsBack() {
    const written = tf.tidy(() => tf.add(tf.fill([1024], 1e-5), tf.scalar(0)));
    const [value] = await written.data();
    written.dispose();
    return value;
  }

  /** The backend name, flags, WASM thread count and emulation last activated here (a worker repeats them). */
  function current() {
    if (!active) throw new Error('no backend has been set on this page');
    return active;
  }

  parity.backends = { setBackend, info, current, lost };
})(self.parity = self.parity || {});
