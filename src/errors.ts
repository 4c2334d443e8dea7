/**
 * Typed errors. Each names the file it concerns and the reason, so the CLI can print one clear
 * line instead of a stack trace.
 */
export class FacegenderError extends Error {
  constructor(
    message: string,
    /** The file or folder the error concerns, when there is one. */
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = new.target.name;
  }
}

export class DatasetError extends FacegenderError {}
export class ImageDecodeError extends FacegenderError {}
export class SplitError extends FacegenderError {}
export class WeightsError extends FacegenderError {}
export class BundleError extends FacegenderError {}
export class UsageError extends FacegenderError {}
