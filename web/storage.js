// Saving models through tfjs' storage schemes and what a round trip must preserve: the topology
// JSON, each weight's bytes (SHA-256) and the predictions. Also model management and storage
// clearing, and deliberate damage to stored models for teeth tests.
(function (parity) {
  'use strict';
  const TFJS_DATABASE = 'tensorflowjs';
  const LOCAL_STORAGE_PREFIX = 'tensorflowjs_models/';
  const MISSING_KERNEL = /Kernel '(\w+)' not registered for backend '(\w+)'/;
  // WebKitGTK gives a worker no WebGL context: tf.setBackend('webgl') fails there (known_issues.py).
  const NO_WORKER_BACKEND = /tf\.setBackend\('(\w+)'\) failed: backend could not be initialised/;
  const trained = new Map();

  async function sha256(bytes) {
    const digest = self.crypto && crypto.subtle ? new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
      : sha256Portable(bytes);
    return Array.from(digest, b => b.toString(16).padStart(2, '0')).join('');
  }

  // SHA-256 (FIPS 180-4) for pages that are not a secure context (a remote browser loading the page over plain
  // HTTP off loopback, --serve-on), where browsers other than a flagged Chromium give no crypto.subtle.
  const primes = [];
  for (let n = 2; primes.length < 64; n++) if (primes.every(p => n % p)) primes.push(n);
  const fraction = x => Math.floor((x - Math.floor(x)) * 2 ** 32);
  const ROUND = Uint32Array.from(primes, p => fraction(Math.cbrt(p)));
  const START = Uint32Array.from(primes.slice(0, 8), p => fraction(Math.sqrt(p)));
  const ror = (x, n) => (x >>> n) | (x << (32 - n));

  function sha256Portable(bytes) {
    const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
    padded.set(bytes);
    padded[bytes.length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(bytes.length / 2 ** 29));
    view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
    const h = START.slice();
    const w = new Uint32Array(64);
    for (let offset = 0; offset < padded.length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
      }
      let [a, b, c, d, e, f, g, k] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + ROUND[i] + w[i]) | 0;
        const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        [k, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
      }
      [a, b, c, d, e, f, g, k].forEach((x, i) => { h[i] += x; });
    }
    const digest = new Uint8Array(32);
    h.forEach((x, i) => new DataView(digest.buffer).setUint32(4 * i, x));
    return digest;
  }

  /**
   * A graph model's fingerprint: its GraphDef JSON, each weight's (by node name) SHA-256, and executeAsync's outputs
   * (model.outputNodes' order) on `inputs` ([{node, tensor}]).
   */
  async function graphFingerprint(model, inputs, withValues) {
    const weights = [];
    for (const [name, [tensor]] of Object.entries(model.weights)) {
      const values = await tensor.data();
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      const entry = { name, shape: tensor.shape, dtype: tensor.dtype, sha256: await sha256(bytes) };
      if (withValues) entry.value = await parity.tensors.encode(tensor);
      weights.push(entry);
    }
    const feeds = Object.fromEntries(inputs.map(({ node, tensor }) => [node, parity.tensors.decode(tensor)]));
    const ys = [].concat(await model.executeAsync(feeds));
    const outputs = await Promise.all(ys.map(parity.tensors.encode));
    tf.dispose([Object.values(feeds), ys]);
    return { topology: JSON.stringify(model.artifacts.modelTopology), weights, outputs };
  }

  /** What a round trip must keep: topology JSON, weight names/shapes/dtypes/SHA-256, predictions on `inputs`. */
  async function fingerprint(modelId, inputs, withValues = false) {
    const model = parity.models.get(modelId);
    if (model instanceof tf.GraphModel) return graphFingerprint(model, inputs, withValues);
    const weights = [];
    for (const variable of model.weights) {
      const values = await variable.read().data();
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      const entry = { name: variable.originalName, shape: variable.shape, dtype: variable.dtype, sha256: await sha256(bytes) };
      if (withValues) entry.value = await parity.tensors.encode(variable.read());
      weights.push(entry);
    }
    const xs = inputs.map(parity.tensors.decode);
    const ys = [].concat(model.predict(xs.length === 1 ? xs[0] : xs));
    const outputs = await Promise.all(ys.map(parity.tensors.encode));
    tf.dispose([xs, ys]);
    // The topology exactly as model.save() writes it (LayersModel.save uses toJSON(null, false)).
    return { topology: JSON.stringify(model.toJSON(null, false)), weights, outputs };
  }

  function plainInfo(info) {
    return { ...info, dateSaved: info.dateSaved ? new Date(info.dateSaved).toISOString() : null };
  }

  /** `model.save(url)` for any scheme (http:// posts multipart to the harness' upload endpoint). */
  async function save(modelId, url) {
    const result = await parity.models.get(modelId).save(url);
    return plainInfo(result.modelArtifactsInfo);
  }

  /**
   * Train `job` in a worker and keep what it saves: on the page's backend, or on `job.workerBackend`
   * ({name, flags, wasmThreads}) where the harness knows this browser's workers cannot run the page's.
   */
  async function trainForSaving(job) {
    const { workerBackend = null, ...saving } = { ...job, saveArtifacts: true };
    try {
      const { artifacts } = await parity.workers.train(saving, workerBackend);
      return { artifacts, trainedOn: (workerBackend || parity.backends.current()).name, note: null };
    } catch (error) {
      const missing = MISSING_KERNEL.exec(error.message);
      const noStart = NO_WORKER_BACKEND.exec(error.message);
      if (!missing && !noStart) throw error;
      const { artifacts } = await parity.workers.train(saving, { name: 'cpu', flags: {} });
      const why = missing ? `backend '${missing[2]}' has no '${missing[1]}' kernel`
        : `backend '${noStart[1]}' cannot start in a Web Worker here`;
      return { artifacts, trainedOn: 'cpu', note: `trained on cpu: ${why}` };
    }
  }

  /**
   * A model trained in a Web Worker (job as for training), loaded on this page from the artifacts
   * the worker saved. Trained once per model URL on this page. Returns {modelId, trainedOn, note}.
   */
  async function trainedModel(job) {
    if (!trained.has(job.modelUrl)) {
      const training = trainForSaving(job);
      trained.set(job.modelUrl, training);
      training.catch(() => trained.delete(job.modelUrl));
    }
    const { artifacts, trainedOn, note } = await trained.get(job.modelUrl);
    return { modelId: parity.models.register(await parity.artifacts.fromArtifacts(artifacts)), trainedOn, note };
  }

  /**
   * Train `job` in a Web Worker (the fit-worker check). When it is the storage subject's own job
   * (`job.keepForStorage`: the 'fit' job unchanged), the model it trained becomes this page's
   * trained subject, so the storage checks need not train it again.
   */
  async function trainInWorker(job) {
    if (!job.keepForStorage) return parity.workers.train(job);
    const { artifacts, ...result } = await parity.workers.train({ ...job, saveArtifacts: true });
    if (!trained.has(job.modelUrl)) {
      trained.set(job.modelUrl, Promise.resolve({ artifacts, trainedOn: parity.backends.current().name, note: null }));
    }
    return result;
  }

  async function listModels() {
    const listed = await tf.io.listModels();
    return Object.fromEntries(Object.entries(listed).map(([url, info]) => [url, plainInfo(info)]));
  }

  function deleteDatabase(name) {
    return new Promise((resolve, reject) => {
      const request = indexedDB.deleteDatabase(name);
      request.onsuccess = () => resolve();
      request.onerror = () => reject(new Error(`deleting IndexedDB database '${name}': ${request.error}`));
    });
  }

  /** Empty localStorage and tfjs' IndexedDB database; returns tf.io.listModels() afterwards. */
  async function clearStorage() {
    localStorage.clear();
    await deleteDatabase(TFJS_DATABASE);
    return listModels();
  }

  function flipByte(bytes) {
    bytes[3] ^= 0x40;  // the first float32's exponent: a change no tolerance could hide
  }

  function tamperLocalStorage(path) {
    const key = `${LOCAL_STORAGE_PREFIX}${path}/weight_data`;
    const stored = localStorage.getItem(key);
    if (stored == null) throw new Error(`no weight data in localStorage under ${key}`);
    const bytes = Uint8Array.from(atob(stored), c => c.charCodeAt(0));
    flipByte(bytes);
    // The first 6 bytes are exactly the first 8 base64 characters.
    localStorage.setItem(key, btoa(String.fromCharCode(...bytes.subarray(0, 6))) + stored.slice(8));
  }

  function tamperIndexedDb(path) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(TFJS_DATABASE);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const store = db.transaction('models_store', 'readwrite').objectStore('models_store');
        const get = store.get(path);
        get.onsuccess = () => {
          if (!get.result) { db.close(); reject(new Error(`no model '${path}' in IndexedDB`)); return; }
          const record = get.result;
          const bytes = new Uint8Array(parity.artifacts.joined(record.modelArtifacts.weightData));
          flipByte(bytes);
          record.modelArtifacts.weightData = bytes.buffer;
          const put = store.put(record);
          put.onsuccess = () => { db.close(); resolve(); };
          put.onerror = () => { db.close(); reject(put.error); };
        };
        get.onerror = () => { db.close(); reject(get.error); };
      };
    });
  }

  /** Change one stored weight byte of the model saved at `url` (localstorage:// or indexeddb://): for teeth tests. */
  async function tamperStored(url) {
    const [scheme, path] = url.split('://');
    if (scheme === 'localstorage') return tamperLocalStorage(path);
    if (scheme === 'indexeddb') return tamperIndexedDb(path);
    throw new Error(`cannot tamper with a model at ${url}`);
  }

  parity.storage = {
    fingerprint, save, trainedModel, trainInWorker, listModels, clearStorage, tamperStored,
    copyModel: async (from, to) => plainInfo(await tf.io.copyModel(from, to)),
    moveModel: async (from, to) => plainInfo(await tf.io.moveModel(from, to)),
    removeModel: async url => plainInfo(await tf.io.removeModel(url)),
  };
})(self.parity = self.parity || {});
