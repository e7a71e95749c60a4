// TypeScript shapes of the vim25 data objects we use (a small subset of govmomi's vim25/types).
// Request-side interfaces list their fields in WSDL order; encode.ts turns them into wire objects
// in exactly that order, because vCenter validates the XML sequence order.

import type { ManagedObjectReference, TypedValue } from './soap/xml.js'

export type { ManagedObjectReference, TypedValue }
export type MoRef = ManagedObjectReference

/**
 * A data object as parsed from a response (see soap/envelope.ts): `_type` from xsi:type,
 * scalars as strings. Can be sent back unchanged (e.g. a CustomizationSpec).
 */
export interface DataObject {
  _type?: string
  [field: string]: unknown
}

// ---- ServiceInstance / SessionManager ------------------------------------------------------

export interface AboutInfo {
  name: string
  fullName: string
  vendor: string
  version: string
  build: string
  apiType: string
  apiVersion: string
  instanceUuid?: string
}

/** ServiceContent: only the managers we use are typed; `raw` holds everything. */
export interface ServiceContent {
  rootFolder: MoRef
  propertyCollector: MoRef
  viewManager: MoRef
  about: AboutInfo
  sessionManager: MoRef
  taskManager?: MoRef
  customizationSpecManager?: MoRef
  customFieldsManager?: MoRef
  searchIndex?: MoRef
  eventManager?: MoRef
  raw: DataObject
}

export interface UserSession {
  key: string
  userName: string
  fullName: string
  loginTime: Date | undefined
  lastActiveTime: Date | undefined
  locale: string
  messageLocale: string
}

// ---- PropertyCollector ------------------------------------------------------------------------

export interface SelectionSpec {
  _type?: 'SelectionSpec'
  name?: string
}

/** WSDL order: name (from SelectionSpec), type, path, skip, selectSet. */
export interface TraversalSpec {
  _type: 'TraversalSpec'
  name?: string
  type: string
  path: string
  skip?: boolean
  selectSet?: (SelectionSpec | TraversalSpec)[]
}

/** WSDL order: type, all, pathSet. */
export interface PropertySpec {
  type: string
  all?: boolean
  pathSet?: string[]
}

/** WSDL order: obj, skip, selectSet. */
export interface ObjectSpec {
  obj: MoRef
  skip?: boolean
  selectSet?: (SelectionSpec | TraversalSpec)[]
}

/** WSDL order: propSet, objectSet, reportMissingObjectsInResults. */
export interface PropertyFilterSpec {
  propSet: PropertySpec[]
  objectSet: ObjectSpec[]
  reportMissingObjectsInResults?: boolean
}

export interface RetrieveOptions {
  maxObjects?: number
}

export interface WaitOptions {
  maxWaitSeconds?: number
  maxObjectUpdates?: number
}

export interface MissingProperty {
  path: string
  /** The fault type, e.g. 'NoPermission', 'InvalidProperty'. */
  faultType: string | undefined
  fault: DataObject | undefined
}

export interface DynamicProperty {
  name: string
  /** The value as parsed (with anyType wrappers such as ArrayOf* still in place). */
  val: unknown
}

export interface ObjectContent {
  obj: MoRef
  propSet: DynamicProperty[]
  missingSet: MissingProperty[]
}

export interface RetrieveResult {
  token: string | undefined
  objects: ObjectContent[]
}

export type PropertyChangeOp = 'add' | 'remove' | 'assign' | 'indirectRemove'

export interface PropertyChange {
  name: string
  op: PropertyChangeOp
  val: unknown
}

export type ObjectUpdateKind = 'modify' | 'enter' | 'leave'

export interface ObjectUpdate {
  kind: ObjectUpdateKind
  obj: MoRef
  changeSet: PropertyChange[]
  missingSet: MissingProperty[]
}

export interface MissingObject {
  obj: MoRef
  faultType: string | undefined
  fault: DataObject | undefined
}

export interface PropertyFilterUpdate {
  filter: MoRef
  objectSet: ObjectUpdate[]
  missingSet: MissingObject[]
}

export interface UpdateSet {
  version: string
  filterSet: PropertyFilterUpdate[]
  truncated: boolean
}

// ---- Tasks ----------------------------------------------------------------------------------

export type TaskInfoState = 'queued' | 'running' | 'success' | 'error'

export interface LocalizedMethodFault {
  /** The fault type, e.g. 'DuplicateName'. */
  faultType: string
  localizedMessage: string
  /** The parsed fault object (`{ _type, ...fields }`). */
  fault: DataObject
}

export interface TaskInfo {
  key: string
  task: MoRef
  state: TaskInfoState
  descriptionId?: string
  entity?: MoRef
  entityName?: string
  /** The task's result, unwrapped (e.g. the new VM's MoRef for CloneVM_Task). */
  result?: unknown
  error?: LocalizedMethodFault
}

// ---- Virtual machines ------------------------------------------------------------------------

export type DiskMoveType =
  | 'moveAllDiskBackingsAndAllowSharing'
  | 'moveAllDiskBackingsAndDisallowSharing'
  | 'moveChildMostDiskBacking'
  | 'createNewChildDiskBacking'
  | 'moveAllDiskBackingsAndConsolidate'

/** OptionValue (e.g. extraConfig): the value goes into an anyType slot and needs an xsi:type. */
export interface OptionValue {
  key: string
  value: string | TypedValue
}

/** The VirtualMachineRelocateSpec fields we use, in WSDL order. */
export interface VirtualMachineRelocateSpec {
  folder?: MoRef
  datastore?: MoRef
  diskMoveType?: DiskMoveType
  pool?: MoRef
  host?: MoRef
}

/** The VirtualMachineConfigSpec fields we use, in WSDL order. */
export interface VirtualMachineConfigSpec {
  name?: string
  uuid?: string
  instanceUuid?: string
  annotation?: string
  numCPUs?: number
  numCoresPerSocket?: number
  memoryMB?: number
  /** VirtualDeviceConfigSpec objects as data objects (with `_type` where polymorphic). */
  deviceChange?: DataObject[]
  extraConfig?: OptionValue[]
}

/** VirtualMachineCloneSpec in WSDL order. `template` and `powerOn` are required on the wire (default false). */
export interface VirtualMachineCloneSpec {
  location: VirtualMachineRelocateSpec
  template?: boolean
  config?: VirtualMachineConfigSpec
  customization?: CustomizationSpec
  powerOn?: boolean
  snapshot?: MoRef
  memory?: boolean
}

export interface VirtualMachineSnapshotTree {
  snapshot: MoRef
  vm: MoRef
  name: string
  description: string
  id?: number
  createTime?: Date
  state: string
  quiesced: boolean
  childSnapshotList: VirtualMachineSnapshotTree[]
}

export interface VirtualMachineSnapshotInfo {
  currentSnapshot?: MoRef
  rootSnapshotList: VirtualMachineSnapshotTree[]
}

// ---- Custom attributes -------------------------------------------------------------------

export interface CustomFieldDef {
  key: number
  name: string
  type: string
  managedObjectType?: string
}

/** A VM's value of a custom attribute (CustomFieldStringValue). */
export interface CustomFieldValue {
  key: number
  value: string
}

// ---- Guest customization -------------------------------------------------------------------

/**
 * A CustomizationSpec as returned by GetCustomizationSpec: a data object passed back verbatim
 * (xsi:types and element order intact) to CustomizeVM_Task or a clone spec.
 */
export type CustomizationSpec = DataObject

export interface CustomizationSpecInfo {
  name: string
  description: string
  type: string
  changeVersion?: string
  lastUpdateTime?: Date
}

export interface CustomizationSpecItem {
  info: CustomizationSpecInfo
  spec: CustomizationSpec
}
