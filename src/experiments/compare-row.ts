import type { Interval } from '../evaluate/bootstrap.js';

export interface CompareRow {
  base: string;
  /** The explicit base id when `base` is an alias. */
  baseId?: string;
  kind: 'base' | 'competitor';
  architecture: string;
  weights: string;
  status: 'ok' | 'skipped';
  reason?: string;
  accuracy?: Interval;
  f1?: Interval;
  threshold?: number;
  seconds?: number;
  /** Training images, epochs run, input size: what was actually done, so nothing shrinks silently. */
  setup?: string;
  times?: Array<{ stage: string; seconds: number }>;
  runDir?: string;
}

/** A pretrained gender model the comparison scores beside the trained bases (a competitors/ GenderModel fits). */
export interface Competitor {
  id: string;
  architecture: string;
  weights: string;
  /** P(class 1) for each test image, and the threshold the model uses. */
  score(files: string[]): Promise<{ probs: Float32Array; threshold: number; notes?: string }>;
  dispose?(): Promise<void>;
}
