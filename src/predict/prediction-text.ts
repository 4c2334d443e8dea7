import type { PixelBox } from '../detect/box.js';

/** How a prediction reads, shared by the photo path in Node and the page in a browser. */

/** One face of a photo, as the photo path in Node and the page report it. */
export interface PhotoFace {
  /** In pixels of the photo as displayed (after EXIF orientation). */
  box: PixelBox;
  /** The detector's confidence; null when the image was classified whole (`detect: false`). */
  detectionScore: number | null;
  /** Capitalised class name, e.g. `Male`. */
  label: string;
  /** The probability of the predicted class, 0..1. */
  certainty: number;
  /** P(class 1), e.g. P(Male). */
  probability: number;
  /** As the study prints it: "Prediction: Male, Certainty: 96.04%". */
  text: string;
  /** Degrees the face was turned to level the eyes (0 without detection). */
  rotation: number;
}

export function capitalise(name: string): string {
  return name.length === 0 ? name : name[0]?.toUpperCase() + name.slice(1);
}

/** The study's text for a prediction, with the bundle's class name: "Prediction: Male, Certainty: 96.04%". */
export function predictionText(label: string, certainty: number): string {
  return `Prediction: ${label}, Certainty: ${(certainty * 100).toFixed(2)}%`;
}
