/**
 * `facegender/browser`: the model in a web page. Load what `facegender export --web` wrote and
 * classify images, video frames or canvases on the user's device; nothing is uploaded.
 */
export { loadWebModel, type ClassifyImageOptions, type WebFace, type WebModel, type WebResult } from './classify.js';
export type { ImageInput } from './pixels.js';
export { WEB_MODEL_FILE, type WebModelManifest } from './web-model.js';
