/**
 * Whether an embedded ICC profile describes sRGB. Most camera and phone JPEGs carry one, and the
 * transform it asks for (sRGB to sRGB) changes no pixel, yet libvips runs it through LittleCMS at
 * about 60% of a 1920 px JPEG's decode time; knowing the profile is sRGB lets a decode skip it.
 *
 * The profile's description tag names it ("sRGB IEC61966-2.1", "sRGB built-in", "Compact sRGB"
 * ...). Linear-light variants with sRGB's primaries exist for editing; they are not sRGB.
 */
export function isSrgbProfile(icc: Uint8Array | undefined): boolean {
  const text = icc ? profileDescription(icc) : undefined;
  return text !== undefined && /srgb/i.test(text) && !/linear|g10\b|gamma ?1\.0/i.test(text);
}

/** The 'desc' tag's text: ICC v2's textDescriptionType or v4's multiLocalizedUnicodeType (first record). */
export function profileDescription(icc: Uint8Array): string | undefined {
  const view = new DataView(icc.buffer, icc.byteOffset, icc.byteLength);
  const u32 = (at: number) => (at + 4 <= icc.length ? view.getUint32(at) : undefined);
  const ascii = (at: number, n: number) => String.fromCharCode(...icc.subarray(at, at + n));
  const count = u32(128);
  if (count === undefined || count > 1000) return undefined;
  for (let i = 0; i < count; i++) {
    const entry = 132 + i * 12;
    if (entry + 12 > icc.length) return undefined;
    if (ascii(entry, 4) !== 'desc') continue;
    const offset = u32(entry + 4) as number;
    const size = u32(entry + 8) as number;
    if (offset + size > icc.length || size < 12) return undefined;
    const type = ascii(offset, 4);
    if (type === 'desc') {
      const n = u32(offset + 8) as number;
      if (12 + n > size) return undefined;
      return ascii(offset + 12, n).replace(/\0+$/, '');
    }
    if (type === 'mluc') {
      const records = u32(offset + 8) as number;
      if (records < 1 || size < 28) return undefined;
      const length = u32(offset + 20) as number;
      const start = u32(offset + 24) as number;
      if (start + length > size) return undefined;
      let text = '';
      for (let k = 0; k + 1 < length; k += 2) text += String.fromCharCode(view.getUint16(offset + start + k));
      return text;
    }
    return undefined;
  }
  return undefined;
}
