export {
  fsyncDirectory,
  StateWriteError,
  writeFileAtomic,
  writeJsonAtomic,
} from './atomic-file.js';
