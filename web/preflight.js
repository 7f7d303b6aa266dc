// A user's own JavaScript on the page (custom layers registered with tf.serialization.registerClass),
// and what tfjs can deserialise: the names in its class registry (layers, activations, initializers...).
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

  parity.preflight = { addScript, registeredClasses };
})(self.parity = self.parity || {});
