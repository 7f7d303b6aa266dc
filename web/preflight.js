// A user's own JavaScript on the page (custom layers registered with tf.serialization.registerClass),
// what tfjs can deserialise: the names in its class registry (layers, activations, initializers...), and what
// tfjs makes of each layer's config (probeLayers).
(function (parity) {
  'use strict';

  /** Load the classic script at `url` into the page; resolves once it has run. */
  function addScript(url) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.onload = () => resolve(null);
      script.onerror = () => reject(new Error(`could not load the script ${url}`));
      document.head.appendChild(script);
    });
  }

  /** Every class name tfjs can deserialise on this page. */
  function registeredClasses() {
    return Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).sort();
  }

  /**
   * Build each probe (a one-layer model topology as Keras wrote it) with tf.models.modelFromJSON and
   * report what tfjs made of the layer: its getConfig() and the model's output shapes, or the error.
   */
  async function probeLayers(probes) {
    const results = [];
    for (const probe of probes) {
      try {
        const model = await tf.models.modelFromJSON({ modelTopology: probe.topology });
        try {
          results.push({ config: model.getLayer(probe.layer).getConfig(), outputShapes: model.outputs.map(o => o.shape) });
        } finally {
          model.dispose();
        }
      } catch (error) {
        results.push({ error: error instanceof Error ? error.message : String(error) });
      }
    }
    return results;
  }

  parity.preflight = { addScript, registeredClasses, probeLayers };
})(self.parity = self.parity || {});
