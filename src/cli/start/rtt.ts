// bin/rtt runs the bundle of this file, dist/bundle/rtt.js: see src/boot.ts
import { start } from '../../boot';
start('rtt', __dirname);
