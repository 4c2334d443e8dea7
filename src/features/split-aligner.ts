import { splitImageFile, type Split, type SplitImage } from '../data/split.js';
import { loadFaceDetector } from '../detect/load-detector.js';
import { alignedPhotoFace, DEFAULT_ALIGNED_SIZE } from '../detect/photo-input.js';
import type { FaceAligner } from './extract-features.js';

/** Files of the split's sources whose faces are found and aligned before embedding (`align`). */
export function filesToAlign(split: Split): Set<string> {
  const aligning = (im: SplitImage) => (split.sources ? split.sources.find((s) => s.name === im.source)?.align : split.dataset.align) === true;
  return new Set(split.images.filter((im) => im.part !== 'unused' && aligning(im)).map((im) => splitImageFile(split, im)));
}

export interface SplitAligner extends FaceAligner {
  /** Photos where no face was found: embedded whole, resized to the frame. */
  noFace: string[];
  dispose(): Promise<void>;
}

/**
 * The photo path's detector and alignment for the split's sources that ask for it (undefined when
 * none does), so training and evaluation see those photos as predict will.
 */
export async function splitAligner(split: Split): Promise<SplitAligner | undefined> {
  const files = filesToAlign(split);
  if (files.size === 0) return undefined;
  const detector = await loadFaceDetector();
  const noFace: string[] = [];
  return {
    key: `${detector.description}; ${DEFAULT_ALIGNED_SIZE.width}x${DEFAULT_ALIGNED_SIZE.height}`,
    files,
    noFace,
    async face(bytes, file) {
      const { image, found } = await alignedPhotoFace(detector, bytes, file);
      if (!found) noFace.push(file);
      return image;
    },
    dispose: () => detector.dispose(),
  };
}
