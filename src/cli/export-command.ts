import { Command } from 'commander';
import { exportWebSite } from '../browser/export-site.js';
import { UsageError } from '../errors.js';
import { terminalProgress } from './progress-bar.js';

export function exportCommand(): Command {
  return new Command('export')
    .description("Export a model as a static web site that finds and classifies faces in the visitor's browser (webcam included); nothing is uploaded, and it works offline after the first visit")
    .requiredOption('--model <dir>', 'model folder written by `facegender train`')
    .option('--web <dir>', 'folder to write the site into (index.html, its script, the weights, model-card.json)')
    .action(async (o: { model: string; web?: string }) => {
      if (!o.web) throw new UsageError('give --web DIR: the folder to write the site into');
      const progress = terminalProgress();
      try {
        const site = await exportWebSite(o.model, o.web, { onProgress: progress });
        progress.stop();
        console.log(`wrote ${site.dir}: ${site.files.length} files, ${(site.totalBytes / 1e6).toFixed(1)} MB; serve the folder from any static host and open index.html`);
      } finally {
        progress.stop();
      }
    });
}
