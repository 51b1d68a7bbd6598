// A small animated-GIF (GIF89a) encoder: the evolution of a channel as an animation that any
// image viewer, slide deck or chat plays. Grayscale frames keep all 256 levels; colour frames
// are quantized to a fixed 6x7x6 colour cube (no dithering: feature images are smooth).

const GRAY = 'gray';
const CUBE = 'cube';

/**
 * @param {!Array<!ImageData>} frames  all the same size
 * @param {number} delayMs             time each frame is shown
 * @return {!Uint8Array}               the .gif file
 */
export function encodeGif(frames, delayMs = 500) {
  if (!frames.length) throw new Error('a GIF needs at least one frame');
  const {width, height} = frames[0];
  const palette = frames.every(isGray) ? GRAY : CUBE;
  const out = new ByteWriter();
  out.ascii('GIF89a');
  out.u16(width);
  out.u16(height);
  out.bytes([0xf7, 0, 0]);  // global colour table of 256 entries, background 0, square pixels
  out.bytes(paletteBytes(palette));
  // NETSCAPE2.0 application extension: loop forever.
  out.bytes([0x21, 0xff, 0x0b]);
  out.ascii('NETSCAPE2.0');
  out.bytes([0x03, 0x01, 0x00, 0x00, 0x00]);
  const delay = Math.max(2, Math.round(delayMs / 10));
  for (const frame of frames) {
    if (frame.width !== width || frame.height !== height) {
      throw new Error('all GIF frames must have the same size');
    }
    out.bytes([0x21, 0xf9, 0x04, 0x00, delay & 0xff, delay >> 8, 0x00, 0x00]);
    out.bytes([0x2c]);
    out.u16(0);
    out.u16(0);
    out.u16(width);
    out.u16(height);
    out.bytes([0x00, 8]);  // no local colour table; LZW minimum code size 8
    const compressed = lzw(indices(frame, palette), 8);
    for (let start = 0; start < compressed.length; start += 255) {
      const block = compressed.subarray(start, start + 255);
      out.bytes([block.length]);
      out.bytes(block);
    }
    out.bytes([0x00]);
  }
  out.bytes([0x3b]);
  return out.result();
}

function isGray(frame) {
  const data = frame.data;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) return false;
  }
  return true;
}

function paletteBytes(palette) {
  const bytes = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    if (palette === GRAY) {
      bytes.fill(i, 3 * i, 3 * i + 3);
    } else if (i < 252) {
      bytes[3 * i] = Math.round((Math.floor(i / 42) * 255) / 5);
      bytes[3 * i + 1] = Math.round((Math.floor(i / 6) % 7) * 255 / 6);
      bytes[3 * i + 2] = Math.round(((i % 6) * 255) / 5);
    }
  }
  return bytes;
}

function indices(frame, palette) {
  const data = frame.data;
  const result = new Uint8Array(frame.width * frame.height);
  for (let p = 0, i = 0; p < result.length; p++, i += 4) {
    if (palette === GRAY) {
      result[p] = data[i];
    } else {
      const r = Math.round((data[i] * 5) / 255);
      const g = Math.round((data[i + 1] * 6) / 255);
      const b = Math.round((data[i + 2] * 5) / 255);
      result[p] = r * 42 + g * 6 + b;
    }
  }
  return result;
}

/** GIF's variable-width LZW with clear code resets when the 12-bit table fills. */
export function lzw(pixels, minCodeSize) {
  const clearCode = 1 << minCodeSize;
  const endCode = clearCode + 1;
  const out = new ByteWriter();
  let codeSize = minCodeSize + 1;
  let nextCode = endCode + 1;
  let table = new Map();
  let buffer = 0;
  let bufferBits = 0;
  const emit = (code) => {
    buffer |= code << bufferBits;
    bufferBits += codeSize;
    while (bufferBits >= 8) {
      out.byte(buffer & 0xff);
      buffer >>>= 8;
      bufferBits -= 8;
    }
  };
  emit(clearCode);
  let prefix = pixels[0];
  for (let i = 1; i < pixels.length; i++) {
    const pixel = pixels[i];
    const key = (prefix << 8) | pixel;
    const known = table.get(key);
    if (known !== undefined) {
      prefix = known;
      continue;
    }
    emit(prefix);
    if (nextCode === 4096) {
      emit(clearCode);
      table = new Map();
      codeSize = minCodeSize + 1;
      nextCode = endCode + 1;
    } else {
      if (nextCode >= 1 << codeSize) codeSize++;
      table.set(key, nextCode++);
    }
    prefix = pixel;
  }
  emit(prefix);
  emit(endCode);
  if (bufferBits > 0) out.byte(buffer & 0xff);
  return out.result();
}

class ByteWriter {
  constructor() {
    this.buffer = new Uint8Array(4096);
    this.length = 0;
  }
  ensure(extra) {
    if (this.length + extra <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
  byte(value) {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }
  bytes(values) {
    this.ensure(values.length);
    this.buffer.set(values, this.length);
    this.length += values.length;
  }
  u16(value) {
    this.bytes([value & 0xff, (value >> 8) & 0xff]);
  }
  ascii(text) {
    this.bytes(Array.from(text, (c) => c.charCodeAt(0)));
  }
  result() {
    return this.buffer.slice(0, this.length);
  }
}
