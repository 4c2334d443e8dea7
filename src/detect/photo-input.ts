import { decodeImageBuffer } from '../data/decode.js';
import type { ImageSize, Rgb8Image } from '../data/image.js';
import { openPhotoBytes, type OpeningPhoto, type ReadPhotoOptions } from '../data/read-photo.js';
import { resizeImage } from '../data/resize-image.js';
import type { DecodedImage } from '../data/image.js';
import type { DetectorInput, FaceDetector } from './face-detector.js';
import { findFaces } from './find-faces.js';
import { letterboxesFromBytes } from './letterbox.js';
import { letterboxRgb, SMALL_DECODE_SIDE } from './letterbox-geometry.js';

/**
 * Size an aligned face is cut at: the framing of CelebA's 178x218 aligned images at the 89x109
 * of the copies this project trains on, so a detected face reaches the base as blurred or sharp
 * as a training image did.
 */
export const DEFAULT_ALIGNED_SIZE: ImageSize = { width: 89, height: 109 };

/**
 * A photo's compressed bytes as a detector input: the detector's small inputs are cut from one
 * small decode while the full decode, which the faces are cut from, runs beside it. Alpha is
 * flattened onto black in the full decode and dropped in the small one; a small photo's
 * letterboxes therefore see a transparent PNG's background as black.
 */
export async function photoDetectorInput(bytes: Uint8Array, name: string, options: ReadPhotoOptions = {}): Promise<{ opening: OpeningPhoto<Rgb8Image>; input: DetectorInput }> {
  const opening = await openPhotoBytes(bytes, name, options);
  const { width, height } = opening.decodedSize;
  // A photo no larger than the small copy would be decoded twice at the same size: its
  // letterboxes are cut from the full decode instead.
  const letterboxes =
    Math.max(width, height) <= SMALL_DECODE_SIDE
      ? async (size: number) => letterboxRgb(await opening.image, width, height, size)
      : letterboxesFromBytes(bytes, width, height, { srgbProfile: opening.srgbProfile });
  const letterbox = async (size: number) => {
    try {
      return await letterboxes(size);
    } catch (err) {
      // A photo that cannot be decoded is reported by the full decode, which names it and says why.
      await opening.image;
      throw err;
    }
  };
  return { opening, input: { width, height, pixels: () => opening.image, letterbox } };
}

/**
 * The face a photo of one person shows, aligned to CelebA's framing at `frame`: the face the
 * detector is surest of. A photo where no face is found gives the whole photo resized to the
 * frame (`found` false), as the crop a dataset of aligned faces would have held.
 */
export async function alignedPhotoFace(detector: FaceDetector, bytes: Uint8Array, name: string, frame: ImageSize = DEFAULT_ALIGNED_SIZE): Promise<{ image: DecodedImage; found: boolean }> {
  const { input } = await photoDetectorInput(bytes, name);
  const [faces = []] = await findFaces(detector, [input], { frame });
  const surest = faces.reduce<(typeof faces)[number] | undefined>((best, f) => (!best || f.box.score > best.box.score ? f : best), undefined);
  if (surest) return { image: surest.aligned.image, found: true };
  return { image: await resizeImage(await decodeImageBuffer(bytes, name), { size: frame }), found: false };
}
