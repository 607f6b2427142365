// bin/rttcatcher runs the bundle of this file, dist/bundle/rttcatcher.js: see src/boot.ts
import { start } from '../../boot';
start('rttcatcher', __dirname);
