export {
  type PeerSessionCap,
  type SessionMeta,
  SessionStore,
  type SessionStoreOptions,
  sessionIdForPeer,
} from './session-store.js';
export {
  type ParsedTranscript,
  parseTranscript,
  type TranscriptHeader,
} from './transcript-file.js';
export {
  MAX_HISTORY_READ_BYTES,
  readTranscriptTail,
  type TranscriptPage,
} from './transcript-tail.js';
