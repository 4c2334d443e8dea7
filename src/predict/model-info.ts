import path from 'node:path';
import type { Classifier } from './classifier.js';
import { capitalise } from './classify-photo.js';

/** What a served or predicting model is, for `/api/model`, `/api/health` and `predict --json`. */
export interface ModelInfo {
  /** The model folder's name; never its path. */
  id: string;
  base: string;
  architecture: string;
  trainedOn: string;
  inputSize: { width: number; height: number };
  modelKind: string;
  classNames: string[];
  threshold: number;
  thresholdRule: string;
  createdAt: string;
  packageVersion: string;
  /** Test metrics recorded at training time, when present. */
  metrics: Record<string, unknown> | null;
}

export function modelInfo(classifier: Classifier, dir: string): ModelInfo {
  const m = classifier.manifest;
  return {
    id: path.basename(path.resolve(dir)),
    base: m.base.id,
    architecture: m.base.architecture,
    trainedOn: m.base.trainedOn,
    inputSize: { ...m.base.inputSize },
    modelKind: m.modelKind,
    classNames: m.classNames.map(capitalise),
    threshold: classifier.threshold,
    thresholdRule: m.thresholdRule,
    createdAt: m.createdAt,
    packageVersion: m.packageVersion,
    metrics: m.metrics ?? null,
  };
}
