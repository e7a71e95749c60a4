// Parsed response values (soap/envelope.ts) -> the typed shapes of types.ts.
// Arrays are normalized here (asArray) and scalars converted (num/bool/date).

import { asArray, bool, date, isObject, moRef, num, requireMoRef, str, unwrap } from './soap/values.js'
import type {
  CustomFieldDef,
  CustomFieldValue,
  CustomizationSpecItem,
  DataObject,
  DynamicProperty,
  LocalizedMethodFault,
  MissingObject,
  MissingProperty,
  ObjectContent,
  ObjectUpdate,
  ObjectUpdateKind,
  PropertyChange,
  PropertyChangeOp,
  PropertyFilterUpdate,
  RetrieveResult,
  ServiceContent,
  TaskInfo,
  TaskInfoState,
  UpdateSet,
  UserSession,
  VirtualMachineSnapshotInfo,
  VirtualMachineSnapshotTree,
} from './types.js'

function obj(v: unknown): DataObject {
  return isObject(v) ? v : {}
}

export function decodeServiceContent(v: unknown): ServiceContent {
  const raw = obj(v)
  const about = obj(raw.about)
  return {
    rootFolder: requireMoRef(raw.rootFolder, 'ServiceContent.rootFolder'),
    propertyCollector: requireMoRef(raw.propertyCollector, 'ServiceContent.propertyCollector'),
    viewManager: requireMoRef(raw.viewManager, 'ServiceContent.viewManager'),
    sessionManager: requireMoRef(raw.sessionManager, 'ServiceContent.sessionManager'),
    taskManager: moRef(raw.taskManager),
    customizationSpecManager: moRef(raw.customizationSpecManager),
    customFieldsManager: moRef(raw.customFieldsManager),
    searchIndex: moRef(raw.searchIndex),
    eventManager: moRef(raw.eventManager),
    about: {
      name: str(about.name) ?? '',
      fullName: str(about.fullName) ?? '',
      vendor: str(about.vendor) ?? '',
      version: str(about.version) ?? '',
      build: str(about.build) ?? '',
      apiType: str(about.apiType) ?? '',
      apiVersion: str(about.apiVersion) ?? '',
      instanceUuid: str(about.instanceUuid),
    },
    raw,
  }
}

export function decodeUserSession(v: unknown): UserSession {
  const s = obj(v)
  return {
    key: str(s.key) ?? '',
    userName: str(s.userName) ?? '',
    fullName: str(s.fullName) ?? '',
    loginTime: date(s.loginTime),
    lastActiveTime: date(s.lastActiveTime),
    locale: str(s.locale) ?? '',
    messageLocale: str(s.messageLocale) ?? '',
  }
}

export function decodeLocalizedMethodFault(v: unknown): LocalizedMethodFault | undefined {
  if (!isObject(v)) return undefined
  const fault = obj(v.fault)
  return {
    faultType: typeof fault._type === 'string' ? fault._type : 'UnknownFault',
    localizedMessage: str(v.localizedMessage) ?? '',
    fault,
  }
}

function decodeMissingProperty(v: unknown): MissingProperty {
  const m = obj(v)
  const f = decodeLocalizedMethodFault(m.fault)
  return { path: str(m.path) ?? '', faultType: f?.faultType, fault: f?.fault }
}

function decodeMissingObject(v: unknown): MissingObject {
  const m = obj(v)
  const f = decodeLocalizedMethodFault(m.fault)
  return { obj: requireMoRef(m.obj, 'MissingObject.obj'), faultType: f?.faultType, fault: f?.fault }
}

export function decodeObjectContent(v: unknown): ObjectContent {
  const o = obj(v)
  return {
    obj: requireMoRef(o.obj, 'ObjectContent.obj'),
    propSet: asArray(o.propSet).map((p): DynamicProperty => ({ name: str(obj(p).name) ?? '', val: obj(p).val })),
    missingSet: asArray(o.missingSet).map(decodeMissingProperty),
  }
}

export function decodeRetrieveResult(v: unknown): RetrieveResult {
  if (v === undefined) return { token: undefined, objects: [] } // nothing matched
  const r = obj(v)
  return { token: str(r.token), objects: asArray(r.objects).map(decodeObjectContent) }
}

function decodePropertyChange(v: unknown): PropertyChange {
  const c = obj(v)
  return { name: str(c.name) ?? '', op: (str(c.op) ?? 'assign') as PropertyChangeOp, val: c.val }
}

function decodeObjectUpdate(v: unknown): ObjectUpdate {
  const u = obj(v)
  return {
    kind: (str(u.kind) ?? 'modify') as ObjectUpdateKind,
    obj: requireMoRef(u.obj, 'ObjectUpdate.obj'),
    changeSet: asArray(u.changeSet).map(decodePropertyChange),
    missingSet: asArray(u.missingSet).map(decodeMissingProperty),
  }
}

function decodeFilterUpdate(v: unknown): PropertyFilterUpdate {
  const f = obj(v)
  return {
    filter: requireMoRef(f.filter, 'PropertyFilterUpdate.filter'),
    objectSet: asArray(f.objectSet).map(decodeObjectUpdate),
    missingSet: asArray(f.missingSet).map(decodeMissingObject),
  }
}

/** WaitForUpdatesEx returns nothing when maxWaitSeconds passed without changes. */
export function decodeUpdateSet(v: unknown): UpdateSet | undefined {
  if (v === undefined || v === '') return undefined
  const u = obj(v)
  return {
    version: str(u.version) ?? '',
    filterSet: asArray(u.filterSet).map(decodeFilterUpdate),
    truncated: bool(u.truncated) ?? false,
  }
}

const TASK_STATES = new Set(['queued', 'running', 'success', 'error'])

/**
 * TaskInfo from a set of (unwrapped) properties named relative to the TaskInfo, e.g.
 * `{ state, result, error, key }` or a whole `info` object.
 */
export function decodeTaskInfo(task: { type: string; value: string }, fields: Record<string, unknown>): TaskInfo {
  const state = str(fields.state) ?? 'queued'
  return {
    key: str(fields.key) ?? task.value,
    task: moRef(fields.task) ?? task,
    state: (TASK_STATES.has(state) ? state : 'queued') as TaskInfoState,
    descriptionId: str(fields.descriptionId),
    entity: moRef(fields.entity),
    entityName: str(fields.entityName),
    result: fields.result === undefined ? undefined : unwrap(fields.result),
    error: decodeLocalizedMethodFault(fields.error),
  }
}

export function decodeCustomFieldDef(v: unknown): CustomFieldDef {
  const d = obj(v)
  return {
    key: num(d.key) ?? -1,
    name: str(d.name) ?? '',
    type: str(d.type) ?? '',
    managedObjectType: str(d.managedObjectType),
  }
}

/** A `customValue` property (ArrayOfCustomFieldValue) -> string values by field key. */
export function decodeCustomFieldValues(v: unknown): CustomFieldValue[] {
  const items = unwrap(v)
  return asArray(items as unknown[])
    .filter(isObject)
    .map((c) => ({ key: num(c.key) ?? -1, value: str(c.value) ?? '' }))
}

function decodeSnapshotTree(v: unknown): VirtualMachineSnapshotTree {
  const t = obj(v)
  return {
    snapshot: requireMoRef(t.snapshot, 'VirtualMachineSnapshotTree.snapshot'),
    vm: requireMoRef(t.vm, 'VirtualMachineSnapshotTree.vm'),
    name: str(t.name) ?? '',
    description: str(t.description) ?? '',
    id: num(t.id),
    createTime: date(t.createTime),
    state: str(t.state) ?? '',
    quiesced: bool(t.quiesced) ?? false,
    childSnapshotList: asArray(t.childSnapshotList).map(decodeSnapshotTree),
  }
}

export function decodeSnapshotInfo(v: unknown): VirtualMachineSnapshotInfo | undefined {
  if (!isObject(v)) return undefined
  return {
    currentSnapshot: moRef(v.currentSnapshot),
    rootSnapshotList: asArray(v.rootSnapshotList).map(decodeSnapshotTree),
  }
}

export function decodeCustomizationSpecItem(v: unknown): CustomizationSpecItem {
  const item = obj(v)
  const info = obj(item.info)
  const spec = obj(item.spec)
  return {
    info: {
      name: str(info.name) ?? '',
      description: str(info.description) ?? '',
      type: str(info.type) ?? '',
      changeVersion: str(info.changeVersion),
      lastUpdateTime: date(info.lastUpdateTime),
    },
    // Verbatim: xsi:types and element order are what CustomizeVM_Task expects back.
    spec: spec._type === undefined ? spec : stripTopType(spec),
  }
}

// The spec element of CustomizationSpecItem carries no xsi:type in practice; should a server send
// one (`CustomizationSpec`), it is harmless but unnecessary when sent back.
function stripTopType(spec: DataObject): DataObject {
  const { _type, ...rest } = spec
  return _type === 'CustomizationSpec' ? rest : spec
}
