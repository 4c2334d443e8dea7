/** Shared image shapes. Pixels are RGB, HWC, Float32 in 0..255 unless a base's preprocessing says otherwise. */
export interface ImageSize {
  height: number;
  width: number;
}

export interface DecodedImage extends ImageSize {
  /** height * width * 3 values, row-major, RGB interleaved, 0..255. */
  data: Float32Array;
}

/** RGB pixels, row-major, interleaved, 0..255, held as floats or as bytes (a photo straight from the decoder). */
export interface PixelSource extends ImageSize {
  data: ArrayLike<number>;
}

/** A decoded image as bytes. */
export interface Rgb8Image extends ImageSize {
  data: Uint8Array;
}

/** N images of the same size packed as [N, H, W, 3]. */
export interface ImageBatch extends ImageSize {
  n: number;
  data: Float32Array;
}

/** A rectangle as fractions (0..1) of an image's height and width. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}
