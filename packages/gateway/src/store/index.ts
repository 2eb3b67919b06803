// State files are written with the shared atomic primitive (see @loopgate/protocol).
export {
  fsyncDirectory,
  removeStaleTempFiles,
  StateWriteError,
  tempPathFor,
  writeFileAtomic,
  writeJsonAtomic,
} from '@loopgate/protocol';
