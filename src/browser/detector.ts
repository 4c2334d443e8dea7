import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { PixelSource } from '../data/image.js';
import { blazeInput, blazeOutputNodes, BLAZE_SPECS, decodeBlaze, type BlazeVariant, type HeadOutput } from '../detect/blazeface-decode.js';
import { BACK_LARGE_SIZE, fineBackSize, isLargeImage, keypointFaces, mergeFrontBack, NMS_IOU } from '../detect/blazeface-merge.js';
import { detectorInput, type DetectedFace, type DetectorInput, type FaceDetector } from '../detect/face-detector.js';
import { letterboxRgb, toRgb8, type Letterbox } from '../detect/letterbox-geometry.js';
import { weightedNms, type Detection } from '../detect/nms.js';

/**
 * The Node photo path's default detector (BlazeFace front and back, merged, faces aligned on
 * their eye keypoints) on tfjs in the page: the same graphs, decoding, suppression and merge
 * (detect/blazeface-decode.ts, blazeface-merge.ts), only the engine differs.
 */
export class WebBlazeFaceDetector implements FaceDetector {
  constructor(
    private readonly front: GraphModel,
    /** The back model with free input height and width, so it runs at 256 and at 384 px. */
    private readonly back: GraphModel,
    private readonly options: { minConfidence: number; maxFaces: number },
    readonly description: string,
  ) {}

  private async run(model: GraphModel, variant: BlazeVariant, size: number, images: readonly DetectorInput[]): Promise<Detection[][]> {
    if (images.length === 0) return [];
    const views: Letterbox[] = await Promise.all(
      images.map(async (im) => (im.letterbox ? im.letterbox(size) : letterboxRgb({ width: im.width, height: im.height, data: toRgb8(await im.pixels()) }, im.width, im.height, size))),
    );
    const x = tf.tensor4d(blazeInput(variant, size, views), [views.length, size, size, 3]);
    let outputs: tf.Tensor[] = [];
    try {
      outputs = model.execute(x, blazeOutputNodes(variant)) as tf.Tensor[];
      const maps: HeadOutput[] = await Promise.all(outputs.map(async (t) => ({ data: (await t.data()) as Float32Array, dims: t.shape })));
      const found = decodeBlaze(variant, size, views, maps, this.options.minConfidence, `blazeface-${variant}`);
      return found.map((list) => weightedNms(list, NMS_IOU, this.options.maxFaces));
    } finally {
      tf.dispose([x, ...outputs]);
    }
  }

  async detect(sources: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]> {
    const images = sources.map(detectorInput);
    const large = images.map(isLargeImage);
    const front = await this.run(this.front, 'front', BLAZE_SPECS.front.size, images);
    const small = await this.run(this.back, 'back', BLAZE_SPECS.back.size, images.filter((_, i) => !large[i]));
    const big = await this.run(this.back, 'back', BACK_LARGE_SIZE, images.filter((_, i) => large[i]));
    let s = 0;
    let l = 0;
    return images.map((im, i) => {
      const back = (large[i] ? big[l++] : small[s++]) ?? [];
      return keypointFaces(mergeFrontBack(front[i] ?? [], back, im, this.options.maxFaces), im);
    });
  }

  /** The back model alone at twice its size, on letterboxes cut from the full images (fineBackSize), as in Node. */
  async detectFine(sources: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]> {
    const images = sources.map(detectorInput);
    const found = await Promise.all(
      images.map(async (im) => {
        const size = fineBackSize(im);
        const full: DetectorInput = { width: im.width, height: im.height, pixels: im.pixels };
        const [list = []] = await this.run(this.back, 'back', size, [full]);
        return list;
      }),
    );
    return images.map((im, i) => keypointFaces(found[i] ?? [], im));
  }

  async dispose(): Promise<void> {
    this.front.dispose();
    this.back.dispose();
  }
}
