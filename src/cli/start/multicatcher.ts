// bin/multicatcher runs the bundle of this file, dist/bundle/multicatcher.js: see src/boot.ts
import { start } from '../../boot';
start('multicatcher', __dirname);
