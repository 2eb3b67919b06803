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
