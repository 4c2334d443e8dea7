import { UsageError } from '../errors.js';
import { checkThreshold } from './scores.js';

export const CLASS_NAMES = ['Female', 'Male'] as const;
export type ClassName = (typeof CLASS_NAMES)[number];

function checkProb(prob: number): void {
  if (typeof prob !== 'number' || !(prob >= 0 && prob <= 1)) throw new UsageError(`probability is ${String(prob)}, expected a number in [0, 1]`);
}

/** 1 (Male) when prob > threshold, else 0 (Female) — the same strict rule as every metric. */
export function predictedLabel(prob: number, threshold = 0.5): 0 | 1 {
  checkProb(prob);
  checkThreshold(threshold);
  return prob > threshold ? 1 : 0;
}

/**
 * The model's probability of the class it predicts: prob for Male, 1 − prob for Female (0..1).
 * The label comes from the model's threshold, but the certainty stays a probability, so with a
 * threshold of 0.58 an image at prob 0.55 is "Female, 45%": less than even, which is honest about
 * a threshold that sits above 0.5.
 */
export function certainty(prob: number, threshold = 0.5): number {
  return predictedLabel(prob, threshold) === 1 ? prob : 1 - prob;
}

/**
 * The study's make_prediction text, e.g. "Prediction: Male, Certainty: 96.04%", always with two
 * decimals (the study printed Python floats, hence its "100.0%" and "99.3%"). The study decided
 * the label by prob >= 0.5; here it is prob > threshold, so only a prob exactly at the threshold
 * reads differently.
 */
export function formatPrediction(prob: number, threshold = 0.5): string {
  const label = predictedLabel(prob, threshold);
  return `Prediction: ${CLASS_NAMES[label]}, Certainty: ${(certainty(prob, threshold) * 100).toFixed(2)}%`;
}
