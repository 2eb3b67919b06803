// State files are written with the shared atomic primitive (see @loopgate/protocol).
export {
  fsyncDirectory,
  StateWriteError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@loopgate/protocol';
