export { fsyncDirectory, writeFileAtomic, writeJsonAtomic } from './atomic-file.js';
