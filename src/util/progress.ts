/**
 * Library functions report progress through this callback and never draw anything themselves;
 * the CLI decides how (or whether) to render it.
 */
export interface ProgressEvent {
  stage: string;
  done: number;
  total: number;
}

export type ProgressFn = (event: ProgressEvent) => void;
