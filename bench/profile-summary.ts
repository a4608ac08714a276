/** `node dist/bench/profile-summary.js FILE.cpuprofile [TOP]`: self time per package and per function, as Markdown. */
import { formatProfile, summariseProfile } from './lib/cpuprofile.js';

const [file, top] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: profile-summary.js FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
process.stdout.write(formatProfile(file, summariseProfile(file, { top: top === undefined ? 25 : Number(top) })));
