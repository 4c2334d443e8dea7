export * from './errors.js';
export type { ProgressEvent, ProgressFn } from './util/progress.js';
export type { DecodedImage, ImageBatch, ImageSize } from './data/image.js';
export { readAttributeFile, type AttributeTable } from './data/attributes.js';
export { readIdentityFile } from './data/identities.js';
export { scanDataset, classCounts, type Dataset, type DatasetImage, type ScanOptions } from './data/dataset.js';
export { makeSplit, splitPart, PARTS, STUDY_SPLIT_SIZES, type Split, type SplitImage, type SplitOptions, type Part } from './data/split.js';
export { readSplit, writeSplit, type ReadSplitOptions } from './data/split-file.js';
export type { Base } from './bases/base.js';
