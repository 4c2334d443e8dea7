import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { writeCompareReport, writeModelReport, type ReportResult } from '../report/write-report.js';

function describe(r: ReportResult): string {
  const galleries = Object.entries(r.galleries).map(([name, n]) => `${name} ${n}`).join(', ');
  return `wrote ${r.file} (${(r.bytes / 1e6).toFixed(2)} MB: ${r.plots} plots, ${r.thumbnails} images; galleries: ${galleries})`;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('Write a self-contained report.html (plots, metrics with CIs, galleries of test predictions, mistakes and likely label errors) for a run or a comparison; it opens offline')
    .option('--model <dir>', 'run folder written by `facegender train` (or one base\'s folder of a comparison)')
    .option('--compare <dir>', 'folder written by `facegender compare`')
    .option('--out <file>', 'where to write the page (default: report.html in that folder)')
    .option('--data <dir>', 'where the dataset\'s images are now, if they moved since the run')
    .action(async (o: { model?: string; compare?: string; out?: string; data?: string }) => {
      if (Boolean(o.model) === Boolean(o.compare)) throw new UsageError('give exactly one of --model DIR or --compare DIR');
      const options = { ...(o.out ? { out: o.out } : {}), ...(o.data ? { dataRoot: o.data } : {}) };
      const result = o.model ? await writeModelReport(o.model, options) : await writeCompareReport(o.compare as string, options);
      for (const m of result.missingImages.slice(0, 5)) console.error(`warning: ${m.reason}`);
      if (result.missingImages.length > 5) console.error(`warning: … and ${result.missingImages.length - 5} more images could not be shown`);
      console.log(describe(result));
    });
}
