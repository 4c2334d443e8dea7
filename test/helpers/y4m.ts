import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

/**
 * A camera clip for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE.y4m`): dataset
 * faces enlarged onto a grey 640x480 scene, one face per stretch of frames, as YUV 4:2:0.
 */
export async function writeFaceClip(file: string, faces: readonly string[], options: { width?: number; height?: number; framesPerFace?: number; fps?: number } = {}): Promise<void> {
  const width = options.width ?? 640;
  const height = options.height ?? 480;
  const per = options.framesPerFace ?? 10;
  const faceHeight = Math.round(height * 0.6);
  const frames: Buffer[] = [];
  for (const face of faces) {
    const tile = await sharp(face).resize({ height: faceHeight }).toBuffer({ resolveWithObject: true });
    const { data } = await sharp({ create: { width, height, channels: 3, background: { r: 120, g: 120, b: 120 } } })
      .composite([{ input: tile.data, left: Math.round((width - tile.info.width) / 2), top: Math.round((height - faceHeight) / 2) }])
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const frame = yuv420(data, width, height);
    for (let i = 0; i < per; i++) frames.push(Buffer.from('FRAME\n'), frame);
  }
  await writeFile(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F${options.fps ?? 15}:1 Ip A1:1 C420jpeg\n`), ...frames]));
}

/** Full-range BT.601 (JPEG's), chroma averaged over each 2x2 block. */
function yuv420(rgb: Uint8Array, width: number, height: number): Buffer {
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  const clamp = (x: number) => Math.max(0, Math.min(255, Math.round(x)));
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const p = (j * width + i) * 3;
      y[j * width + i] = clamp(0.299 * (rgb[p] as number) + 0.587 * (rgb[p + 1] as number) + 0.114 * (rgb[p + 2] as number));
    }
  }
  for (let j = 0; j < height / 2; j++) {
    for (let i = 0; i < width / 2; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const p = ((2 * j + dy) * width + 2 * i + dx) * 3;
        r += rgb[p] as number;
        g += rgb[p + 1] as number;
        b += rgb[p + 2] as number;
      }
      r /= 4;
      g /= 4;
      b /= 4;
      u[j * (width / 2) + i] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      v[j * (width / 2) + i] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  return Buffer.concat([y, u, v]);
}
