// The Precompiled normalizer of sentencepiece tokenizers (umT5's nmt_nfkc), exactly as Rust's `tokenizers`
// runs it (the spm_precompiled crate): the charsmap is a Darts-clone double-array trie over UTF-8 byte strings
// plus the normalized strings it points into. tokenizers.js approximates it with NFKC and a few regexes, which
// differs from Python on zero-width joiners and other characters the charsmap keeps (the fixture's
// "zero\u200bwidth\u200d joiner" and emoji ZWJ sequences); tokenizer.ts swaps this in.
//
// precompiled_charsmap (base64): u32 LE trie size in bytes, the trie's u32 units, then the normalized
// strings, each ending in a 0 byte.

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class PrecompiledCharsmap {
  private readonly trie: Uint32Array;
  private readonly normalized: Uint8Array;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private readonly segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

  constructor(charsmapBase64: string, source: string) {
    const bytes = base64Bytes(charsmapBase64);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const trieBytes = bytes.length >= 4 ? view.getUint32(0, true) : -1;
    if (trieBytes < 0 || trieBytes % 4 !== 0 || 4 + trieBytes > bytes.length) {
      throw new Error(`${source}: precompiled_charsmap is ${bytes.length} bytes, its trie claims ${trieBytes}`);
    }
    this.trie = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.trie.length; i++) this.trie[i] = view.getUint32(4 + 4 * i, true);
    this.normalized = bytes.slice(4 + trieBytes);
  }

  // Darts-clone unit fields
  private static offset(u: number): number {
    return (u >>> 10) << ((u & (1 << 9)) >>> 6);
  }

  /** The first (shortest) key of the trie that prefixes `key`: its value (an offset into the strings), or -1. */
  private firstPrefix(key: Uint8Array): number {
    const a = this.trie;
    let pos = PrecompiledCharsmap.offset(a[0]);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      const unit = a[pos];
      if (unit === undefined || (unit & ((1 << 31) | 0xff)) >>> 0 !== c) return -1;
      pos ^= PrecompiledCharsmap.offset(unit);
      if ((unit >>> 8) & 1) return a[pos] & 0x7fffffff;
    }
    return -1;
  }

  private transform(chunk: Uint8Array): string | null {
    const i = this.firstPrefix(chunk);
    if (i < 0) return null;
    let j = i;
    while (j < this.normalized.length && this.normalized[j] !== 0) j++;
    return this.dec.decode(this.normalized.subarray(i, j));
  }

  /** spm_precompiled's normalize_string: a grapheme under 6 bytes as a whole, else (or unmatched) char by char. */
  normalize(text: string): string {
    let out = "";
    for (const { segment } of this.segmenter.segment(text)) {
      const g = this.enc.encode(segment);
      if (g.length < 6) {
        const n = this.transform(g);
        if (n !== null) {
          out += n;
          continue;
        }
      }
      for (const ch of segment) {
        const n = this.transform(this.enc.encode(ch));
        out += n ?? ch;
      }
    }
    return out;
  }
}
