import { InvalidArgumentError, Option, type Command } from 'commander';
import { readFileList } from '../data/file-list.js';
import { UsageError } from '../errors.js';
import { DETECTOR_KINDS, LANDMARK_SOURCES, type DetectorKind, type FaceDetectorOptions, type LandmarkSource } from '../detect/face-detector.js';
import { ONNX_THREAD_NAMES, type OnnxThread } from '../runtime/onnx/open-session.js';
import { OnnxWorker } from '../runtime/onnx/worker-session.js';

/** Commander argument parsers that reject bad numbers with a message naming the value. */
export function parseInteger(min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
    return n;
  };
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** The face detector options predict, serve and evaluate --data share. */
export function addDetectorOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--detector <kind>', 'face detector: blazeface (BlazeFace front and back on ONNX Runtime) or ssd (face-api\'s SSD and 68 landmarks on tfjs)').choices([...DETECTOR_KINDS]).default('blazeface'))
    .addOption(new Option('--landmarks <source>', 'blazeface: align on its eye keypoints (nose and mouth too for a turned face), or on FaceMesh\'s five points (slower)').choices([...LANDMARK_SOURCES]).default('keypoints'));
}

export function detectorOptionsFrom(o: Record<string, unknown>): FaceDetectorOptions {
  return { kind: o.detector as DetectorKind, landmarks: o.landmarks as LandmarkSource };
}

/**
 * `--onnx-thread` of predict and serve: where ONNX Runtime runs the detector and the base. One
 * worker thread for all of them by default, so that decoding, resampling, alignment and HTTP go
 * on while they compute (the README's Serve section has the figures).
 */
export function addOnnxThreadOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--onnx-thread <where>', 'where ONNX Runtime runs the detector and the base: worker (one worker thread for both) or main (the JavaScript thread, which it then blocks)')
      .choices([...ONNX_THREAD_NAMES])
      .default('worker'),
  );
}

/**
 * The place `--onnx-thread` names for every session of the command: the main thread, or one
 * OnnxWorker they share (a worker per session measured no faster and holds 110 MB more), which
 * `close` ends.
 */
export function onnxThreadFrom(o: Record<string, unknown>): { onnxThread: OnnxThread; close: () => Promise<void> } {
  if (o.onnxThread !== 'worker') return { onnxThread: 'main', close: async () => {} };
  const worker = OnnxWorker.start();
  return { onnxThread: worker, close: () => worker.close() };
}

/** `--files-from`, for lists of images longer than a shell will pass as arguments. */
export function addFilesFromOption(cmd: Command): Command {
  return cmd.option('--files-from <file>', 'also read image paths from FILE, one per line or NUL-separated (find -print0); - reads standard input');
}

/** The command's positional inputs followed by those of its `--files-from` list; at least one is required. */
export async function inputsFrom(inputs: readonly string[], o: { filesFrom?: string }): Promise<string[]> {
  const all = [...inputs, ...(o.filesFrom !== undefined ? await readFileList(o.filesFrom) : [])];
  if (all.length === 0) throw new UsageError('no input: give image files or folders, or --files-from FILE');
  return all;
}
