// Which tfjs this page (or worker) runs. `?tfjs=VERSION` picks a version installed beside the default
// through an npm alias (tfjs-VERSION, see package.json), served at /tfjs/<package>@VERSION/.
(function (parity) {
  'use strict';
  const version = new URL(self.location.href).searchParams.get('tfjs');
  parity.tfjsVersion = version;
  parity.tfjsSuffix = version ? `@${version}` : '';
  parity.tfjsBundles = [
    ['tfjs', 'tf.min.js'],
    ['tfjs-backend-wasm', 'tf-backend-wasm.min.js'],
    ['tfjs-backend-webgpu', 'tf-backend-webgpu.min.js'],
  ].map(([pkg, file]) => `/tfjs/${pkg}${parity.tfjsSuffix}/${file}`);
  parity.tfjsQuery = version ? `?tfjs=${encodeURIComponent(version)}` : '';
})(self.parity = self.parity || {});
