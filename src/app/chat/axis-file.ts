/**
 * The axis inside a share link (small models only). Axis files themselves are read in the model
 * worker (`ModelClient.setAxisFile`, core: `axisBundleFromFile` in src/core/chat/axis.ts).
 */

/** The axis kept inside a share link (small models only): base64url of float32 little-endian. */
export function encodeAxis(axis: Float32Array): string {
  const b = new Uint8Array(axis.buffer, axis.byteOffset, axis.byteLength);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeAxis(text: string, maxFloats = 1 << 16): Float32Array | null {
  try {
    const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    if (s.length % 4 !== 0 || s.length / 4 > maxFloats) return null;
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    const f = new Float32Array(b.buffer);
    return f.every(Number.isFinite) ? f : null;
  } catch {
    return null;
  }
}
