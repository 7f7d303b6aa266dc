// Tensor transport: {shape, dtype, b64} where b64 is the base64 of the typed array's bytes
// (little-endian, as both numpy and the browser store them). Never JSON number lists.
(function (parity) {
  'use strict';
  const ARRAY_TYPES = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

  function bytesToBase64(bytes) {
    const CHUNK = 0x8000;
    let binary = '';
    for (let i = 0; i < bytes.length; i += CHUNK) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
    }
    return btoa(binary);
  }

  function base64ToBytes(b64) {
    const binary = atob(b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  /** Decode a transported tensor into a tf.Tensor. */
  function decode(encoded) {
    const ArrayType = ARRAY_TYPES[encoded.dtype];
    if (!ArrayType) throw new Error(`unsupported dtype ${encoded.dtype}`);
    const bytes = base64ToBytes(encoded.b64);
    const values = new ArrayType(bytes.buffer, bytes.byteOffset, bytes.byteLength / ArrayType.BYTES_PER_ELEMENT);
    return tf.tensor(values, encoded.shape, encoded.dtype);
  }

  /** Encode a tf.Tensor (awaiting its data) for transport back to Python. */
  async function encode(tensor) {
    const values = await tensor.data();
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    return { shape: tensor.shape, dtype: tensor.dtype, b64: bytesToBase64(bytes) };
  }

  /** Encode a tf.Tensor at once (dataSync): for tensors that will not outlive the current call. */
  function encodeSync(tensor) {
    const values = tensor.dataSync();
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    return { shape: tensor.shape, dtype: tensor.dtype, b64: bytesToBase64(bytes) };
  }

  parity.tensors = { decode, encode, encodeSync };
})(self.parity = self.parity || {});
