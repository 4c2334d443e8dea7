import { BlazeFaceDetector } from './blazeface-detector.js';
import { checkDetectorOptions, type FaceDetector, type FaceDetectorOptions } from './face-detector.js';
import { loadSsdDetector } from './ssd-detector.js';

/** Loads the detector `options.kind` names: BlazeFace with FaceMesh by default, face-api's SSD on request. */
export async function loadFaceDetector(options: FaceDetectorOptions = {}): Promise<FaceDetector> {
  checkDetectorOptions(options);
  if (options.kind === 'ssd') {
    return loadSsdDetector({
      ...(options.backend ? { backend: options.backend } : {}),
      ...(options.minConfidence !== undefined ? { minConfidence: options.minConfidence } : {}),
      ...(options.maxFaces !== undefined ? { maxFaces: options.maxFaces } : {}),
    });
  }
  return BlazeFaceDetector.load(options);
}
