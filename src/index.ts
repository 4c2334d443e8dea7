export * from './errors.js';
export type { ProgressEvent, ProgressFn } from './util/progress.js';
// 1 Importing the dataset
export type { CropBox, DecodedImage, ImageBatch, ImageSize } from './data/image.js';
export { readAttributeFile, type AttributeTable } from './data/attributes.js';
export { readIdentityFile } from './data/identities.js';
export { scanDataset, classCounts, datasetImageFile, type Dataset, type DatasetImage, type DatasetSource, type ScanOptions, type SourceSpec } from './data/dataset.js';
export { readLabelTable, type LabelTable, type LabelRow } from './data/label-table.js';
export { makeSplit, splitPart, splitImageFile, PARTS, STUDY_SPLIT_SIZES, type Split, type SplitImage, type SplitOptions, type SplitSource, type SourceSplitOptions, type Part } from './data/split.js';
export { readSplit, writeSplit, type ReadSplitOptions } from './data/split-file.js';
export { decodeImage, decodeImageBuffer, type DecodeOptions, type Interpolation } from './data/decode.js';
export { imageBatches, type ImageBatchOptions } from './data/batches.js';
export { augmentImage, STUDY_AUGMENTATION, NO_AUGMENTATION, type AugmentParams } from './data/augment.js';
// 2 Importing the pre-trained base
export type { Base } from './bases/base.js';
export { loadBase, describeBases, BASE_NAMES, DEFAULT_BASE, type LoadBaseOptions, type BaseDescription } from './zoo/index.js';
export { initTfjs } from './runtime/tfjs/backend.js';
export { isFineTunable, type FineTunableBase, type FineTunedBase } from './bases/fine-tunable.js';
export { loadVgg16Base, VGG16_VARIANTS, type Vgg16Variant } from './zoo/index.js';
// 3 Constructing and training the model
export { extractFeatures, type ExtractOptions, type FeatureSet } from './features/extract-features.js';
export { trainHead, headProbs, STUDY_TRAINING, HEAD_INPUT_DEFAULTS, featureScaling, applyScaling, foldScaling, type FeatureScaling, type FeatureData, type TrainHeadOptions } from './train/fit-head.js';
export { trainEndToEnd } from './train/fit-end-to-end.js';
export { trainModel, type TrainModelOptions, type TrainedModel } from './train/train-model.js';
export { fineTuneBase, estimateFineTune, type FineTuneEstimate } from './train/fine-tune-base.js';
export { createHead, STUDY_HEAD, type HeadConfig } from './train/head.js';
export { saveBundle, readBundleManifest, loadBundleModel, readBundleBaseWeights, type BundleManifest } from './train/bundle.js';
// 4 Analysis
export { evaluatePredictions, type Evaluation, type EvaluateOptions } from './evaluate/evaluate-predictions.js';
export { evaluateBundle } from './experiments/evaluate-bundle.js';
export { evaluateFolder, type EvaluateFolderOptions, type FolderEvaluation } from './experiments/evaluate-folder.js';
export { evaluateLabelled, type LabelledEvaluation, type LabelledOutcome } from './evaluate/evaluate-labelled.js';
export { evaluationMarkdown } from './evaluate/evaluation-markdown.js';
export { binaryMetrics, rocCurve, reliabilityBins } from './evaluate/metrics.js';
export { bootstrapCI } from './evaluate/bootstrap.js';
export { sweepThresholds, chooseThreshold } from './evaluate/threshold-sweep.js';
export { subgroupAccuracy, categoryAccuracy, type CategoryReport } from './evaluate/subgroups.js';
export { formatPrediction, certainty } from './evaluate/certainty.js';
export { runExperiment, type ExperimentOptions, type ExperimentResult } from './experiments/experiment.js';
// 5-6 Alternative models and comparison
export { compareBases, comparisonMarkdown, STUDY_RESULTS, type Comparison } from './experiments/compare.js';
export { type CompareRow } from './experiments/compare-row.js';
// 7 Making predictions
export { loadClassifier, type Classifier, type Classification } from './predict/classifier.js';
export { createPhotoClassifier, classifyPhotoFiles, type PhotoClassifier, type PhotoFace, type PhotoResult } from './predict/classify-photo.js';
export { loadFaceDetector } from './detect/load-detector.js';
export type { FaceDetector, FaceDetectorOptions } from './detect/face-detector.js';
export { findFaces } from './detect/find-faces.js';
export { alignFace, CELEBA_FRAME, CELEBA_FACE_TEMPLATE } from './data/face-align.js';
export { loadCompetitors, COMPETITOR_IDS } from './competitors/index.js';
export { type GenderModel } from './competitors/gender-model.js';
// Shells
export { writeModelReport, writeCompareReport } from './report/write-report.js';
export { buildServer, type ServerOptions } from './serve/server.js';
export { reframeFace, REFRAMINGS, type Reframing } from './data/reframe.js';
export { buildRobustnessSets, scoreModelOnSets, scoreCompetitorOnSets, robustnessMarkdown, type RobustnessRow } from './experiments/robustness.js';
