// Image bytes -> ImageBitmap, and a frames-per-second meter.

// Trait values and message buffers arrive as DataView (ArrayBuffer or typed arrays in other hosts).
export function toBytes(value) {
  if (!value) return null;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value))
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) return Uint8Array.from(value);
  return null;
}

export function sniffType(bytes) {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return "image/png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return "image/jpeg";
  return "";
}

export function decodeImage(bytes, format) {
  const type = sniffType(bytes) || (format ? `image/${format}` : "");
  return createImageBitmap(new Blob([bytes], { type }));
}

export class FpsMeter {
  constructor(window = 12) {
    this.window = window;
    this.times = [];
  }

  reset() {
    this.times = [];
  }

  tick(now) {
    this.times.push(now);
    if (this.times.length > this.window) this.times.shift();
  }

  get fps() {
    const n = this.times.length;
    if (n < 2) return null;
    const span = this.times[n - 1] - this.times[0];
    return span > 0 ? ((n - 1) * 1000) / span : null;
  }
}
