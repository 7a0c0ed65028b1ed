// Uniform layouts are declared once, in the WGSL file (`struct Params { M: u32, eps: f32, ... }`);
// the host derives the packing from that text, so the two sides cannot drift apart.
// Only 4-byte scalars (u32, i32, f32) are allowed: each field sits at 4 * its index.

export interface UniformPacker {
  fields: { name: string; type: "u32" | "i32" | "f32" }[];
  /** Byte size of the struct, rounded up to 16 as uniform bindings require. */
  size: number;
  pack(values: Record<string, number>, into: Uint8Array, byteOffset: number, op: string): void;
}

export function parseUniformStruct(code: string, name: string): UniformPacker | null {
  const m = code.match(new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`));
  if (!m) return null;
  const fields = m[1]
    .replace(/\/\/[^\n]*/g, "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((decl) => {
      const [fname, ftype] = decl.split(":").map((s) => s.trim());
      if (ftype !== "u32" && ftype !== "i32" && ftype !== "f32") {
        throw new Error(`uniform struct ${name}: field ${fname} has type ${ftype}; only u32, i32, f32 are supported`);
      }
      return { name: fname, type: ftype as "u32" | "i32" | "f32" };
    });
  const size = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  return {
    fields,
    size,
    pack(values, into, byteOffset, op) {
      const view = new DataView(into.buffer, into.byteOffset + byteOffset, size);
      for (const key of Object.keys(values)) {
        if (!fields.some((f) => f.name === key)) throw new Error(`${op}: uniform ${key} is not a field of ${name} (${fields.map((f) => f.name)})`);
      }
      fields.forEach((f, i) => {
        const v = values[f.name];
        if (v === undefined || Number.isNaN(v)) throw new Error(`${op}: uniform ${name}.${f.name} is missing`);
        if (f.type === "f32") view.setFloat32(4 * i, v, true);
        else if (f.type === "i32") view.setInt32(4 * i, v, true);
        else {
          if (v < 0 || !Number.isInteger(v)) throw new Error(`${op}: uniform ${name}.${f.name} must be a non-negative integer, got ${v}`);
          view.setUint32(4 * i, v, true);
        }
      });
    },
  };
}
