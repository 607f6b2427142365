// bin/mrsync runs the bundle of this file, dist/bundle/mrsync.js: see src/boot.ts
import { start } from '../../boot';
start('mrsync', __dirname);
