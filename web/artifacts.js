// Loading layers models through any tfjs storage scheme, with the artifacts checked first: a
// model.json that is not JSON, or weight data shorter or longer than the weights manifest says,
// is an error naming the file (tfjs itself would report a RangeError or a shape mismatch).
(function (parity) {
  'use strict';
  const DTYPE_BYTES = { float32: 4, int32: 4, bool: 1 };
  const QUANTIZED_BYTES = { uint8: 1, uint16: 2, float16: 2 };

  // tfjs does not check the HTTP status of weight shards: a 404 page becomes "byte length of
  // Float32Array should be a multiple of 4". Failing the fetch names the missing file instead.
  async function checkedFetch(input, init) {
    const response = await fetch(input, init);
    if (!response.ok) {
      throw new Error(`${response.url || input}: HTTP ${response.status} ${response.statusText}`);
    }
    return response;
  }

  function specBytes(spec) {
    const dtype = spec.quantization ? spec.quantization.dtype : spec.dtype;
    const perElement = spec.quantization ? QUANTIZED_BYTES[dtype] : DTYPE_BYTES[dtype];
    if (perElement === undefined) throw new Error(`weight ${spec.name}: unsupported dtype ${dtype}`);
    return spec.shape.reduce((n, d) => n * d, 1) * perElement;
  }

  function byteLength(data) {
    if (data == null) return 0;
    return Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength;
  }

  /** Throw naming `where` unless `bytes` is exactly the size the weight `specs` need. */
  function checkWeightBytes(specs, bytes, where) {
    const needed = specs.reduce((n, spec) => n + specBytes(spec), 0);
    if (bytes < needed) {
      throw new Error(`${where}: truncated: ${bytes} bytes of weight data, the weights manifest needs ${needed}`);
    }
    if (bytes > needed) {
      throw new Error(`${where}: wrong weight byte length: ${bytes} bytes of weight data, the weights manifest ` +
                      `describes ${needed}`);
    }
  }

  async function fetchModelJson(url) {
    const text = await (await checkedFetch(url)).text();
    let modelJson;
    try {
      modelJson = JSON.parse(text);
    } catch (error) {
      throw new Error(`${url}: malformed JSON: ${error.message}`);
    }
    if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology) {
      throw new Error(`${url}: not a tfjs model.json (no modelTopology)`);
    }
    if (modelJson.weightsManifest != null && !Array.isArray(modelJson.weightsManifest)) {
      throw new Error(`${url}: weightsManifest is not a list`);
    }
    return modelJson;
  }

  /** Artifacts from an http(s) model.json and its weight files, checked group by group. */
  async function fromHttp(url) {
    const modelJson = await fetchModelJson(url);
    return tf.io.getModelArtifactsForJSON(modelJson, async groups => {
      const specs = [];
      const buffers = [];
      for (const group of groups) {
        const urls = group.paths.map(path => new URL(path, url).href);
        const parts = await Promise.all(urls.map(async u => (await checkedFetch(u)).arrayBuffer()));
        checkWeightBytes(group.weights, byteLength(parts), urls.join(', '));
        specs.push(...group.weights);
        buffers.push(...parts);
      }
      return [specs, tf.io.concatenateArrayBuffers(buffers)];
    });
  }

  /** Artifacts from localstorage:// or indexeddb://, with the weight data checked. */
  async function fromBrowserStorage(url) {
    const handlers = tf.io.getLoadHandlers(url);
    if (handlers.length !== 1) throw new Error(`${url}: tfjs has ${handlers.length} load handlers for this URL, not 1`);
    const artifacts = await handlers[0].load();
    checkWeightBytes(artifacts.weightSpecs || [], byteLength(artifacts.weightData), `${url} (weight data)`);
    return artifacts;
  }

  /** Artifacts from `url` (http(s)://, localstorage:// or indexeddb://), checked. */
  function load(url) {
    return /^https?:\/\//.test(url) ? fromHttp(url) : fromBrowserStorage(url);
  }

  /** A layers model from `url` (http(s)://, localstorage:// or indexeddb://), its artifacts checked first. */
  async function loadLayersModel(url) {
    return fromArtifacts(await load(url));
  }

  /** Whether `artifacts` are a graph model's (the converter's format field, or a GraphDef topology). */
  function isGraph(artifacts) {
    return artifacts.format === 'graph-model' || Boolean(artifacts.modelTopology && artifacts.modelTopology.node);
  }

  /** The model at `url`, its artifacts checked first: a GraphModel for a graph model's, else a LayersModel. */
  async function loadModel(url) {
    const artifacts = await load(url);
    if (!isGraph(artifacts)) return fromArtifacts(artifacts);
    const weightData = artifacts.weightData == null ? null : joined(artifacts.weightData);
    return tf.loadGraphModel(tf.io.fromMemory({ ...artifacts, weightData }));
  }

  /** Weight data (one ArrayBuffer or a list of them) as one new ArrayBuffer. */
  function joined(weightData) {
    return tf.io.concatenateArrayBuffers([].concat(weightData));
  }

  /** A layers model from in-memory artifacts (their weight data is copied, so they can be reused). */
  function fromArtifacts(artifacts) {
    const weightData = artifacts.weightData == null ? null : joined(artifacts.weightData);
    return tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, weightData }));
  }

  /** The artifacts tfjs would save for `model` (topology, weight specs and data), kept in memory. */
  async function toArtifacts(model) {
    let saved = null;
    await model.save(tf.io.withSaveHandler(async artifacts => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }));
    return saved;
  }

  parity.artifacts = { load, loadLayersModel, loadModel, fromArtifacts, toArtifacts, joined };
})(self.parity = self.parity || {});
