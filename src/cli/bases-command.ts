import { Command } from 'commander';
import { describeBases, DEFAULT_BASE } from '../zoo/index.js';

export function basesCommand(): Command {
  return new Command('bases')
    .description('List every base, what its weights were trained on, and whether it is usable here (and if not, why)')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const rows = await describeBases();
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      for (const r of rows) {
        const name = r.aliasOf ? `${r.id} (= ${r.aliasOf})` : r.id;
        console.log(`${name}${r.id === DEFAULT_BASE ? ' [default]' : ''}\t${r.usable ? 'usable' : 'NOT USABLE'}\t${r.engine}\t${r.fineTunable ? 'fine-tunable' : 'frozen'}`);
        console.log(`    ${r.architecture}`);
        console.log(`    weights: ${r.trainedOn}`);
        if (r.reason) console.log(`    why not: ${r.reason}`);
      }
      console.log('onnx:PATH\tany ONNX model as a base (--input-size, --layout, --preprocess, --output)');
    });
}
