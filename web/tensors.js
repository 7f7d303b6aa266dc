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

  /**
   * `tensor`'s values as transported: the bytes of its dtype's typed array. A backend may hand back another array
   * type than the dtype's (tfjs-backend-cpu's Cast from bool to float32 keeps the bool's Uint8Array).
   */
  function encoded(tensor, values) {
    const ArrayType = ARRAY_TYPES[tensor.dtype];
    const typed = ArrayType && !(values instanceof ArrayType) ? ArrayType.from(values) : values;
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    return { shape: tensor.shape, dtype: tensor.dtype, b64: bytesToBase64(bytes) };
  }

  /** Encode a tf.Tensor (awaiting its data) for transport back to Python. */
  async function encode(tensor) {
    return encoded(tensor, await tensor.data());
  }

  /** Encode a tf.Tensor at once (dataSync): for tensors that will not outlive the current call. */
  function encodeSync(tensor) {
    return encoded(tensor, tensor.dataSync());
  }

  parity.tensors = { decode, encode, encodeSync };
})(self.parity = self.parity || {});
