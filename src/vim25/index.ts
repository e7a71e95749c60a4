// Public API of the vim25 SOAP client. Layers (after govmomi):
//   soap/xml, soap/envelope   XML building (escaped) and parsing into a round-trippable model
//   soap/transport            HTTP, session cookie, timeouts, call counting
//   soap/faults               VimFault / VimConnectionError / VimHttpError
//   methods                   one typed function per vim25 operation
//   session                   re-login on NotAuthenticated, retries for idempotent reads
//   property                  PropertyCollector helpers (paged retrieve, container views)
//   task-watcher              one WaitForUpdatesEx loop for all tasks in flight
//                             (in layers: task-waiters, task-collector, task-batch, task-update-loop)
//   client                    VimClient: all of the above, with convenience methods

export { VimClient } from './client.js'
export type { ConnectOptions, SnapshotOptions } from './client.js'

export { Session, VimSessionClosedError, IDEMPOTENT_METHODS } from './session.js'
export type { Credentials, RetryPolicy } from './session.js'

export { PropertyHelper } from './property.js'
export type { ObjectProps, RetrieveOpts } from './property.js'

export {
  TaskWatcher,
  TaskFailedError,
  TaskVanishedError,
  TaskWatchTimeoutError,
  TaskWatcherClosedError,
} from './task-watcher.js'
export type { TaskFinished, TaskWatcherOptions, WatchOptions, SessionGeneration } from './task-watcher.js'

export * as methods from './methods.js'
export { CustomizationWatcher, CUSTOMIZATION_EVENT_TYPES } from './customization-events.js'
export type { CustomizationOutcome, CustomizationEvent } from './customization-events.js'

export { SoapTransport, SESSION_COOKIE, DEFAULT_API_VERSION, callOutcome } from './soap/transport.js'
export type { CallObserver, CallRecord, CallOptions, RoundTripper, TransportOptions, VimLogger } from './soap/transport.js'

export {
  VimFault,
  VimConnectionError,
  VimHttpError,
  isFault,
  isTransientError,
  faultObject,
} from './soap/faults.js'
export type { ConnectionFailure } from './soap/faults.js'

export { buildRequest, parseResponse, parseXml, SoapParseError } from './soap/envelope.js'
export type { RequestBody, SoapFaultBody, ParsedResponse } from './soap/envelope.js'

export {
  escapeText,
  escapeAttr,
  serializeElement,
  stripInvalidXmlChars,
  findInvalidXmlChar,
  isMoRef,
  xsdString,
  XmlEncodeError,
} from './soap/xml.js'

export { asArray, unwrap, str, num, bool, date, moRef } from './soap/values.js'

export {
  decodeCustomFieldValues,
  decodeSnapshotInfo,
  decodeTaskInfo,
  decodeCustomFieldDef,
} from './decode.js'

export type * from './types.js'
