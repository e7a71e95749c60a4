// One typed function per vim25 operation (like govmomi's vim25/methods). Each builds the request
// parameters in WSDL order, invokes them through a RoundTripper (the session layer in practice)
// and decodes the result. Methods ending in _Task return the Task reference: watch it with the
// TaskWatcher.

import {
  decodeCustomFieldDef,
  decodeCustomizationSpecItem,
  decodeRetrieveResult,
  decodeServiceContent,
  decodeUpdateSet,
  decodeUserSession,
} from './decode.js'
import {
  encodeCloneSpec,
  encodePropertyFilterSpec,
  encodeRetrieveOptions,
  encodeWaitOptions,
} from './encode.js'
import type { CallOptions, RoundTripper } from './soap/transport.js'
import { asArray, bool, date, moRef, requireMoRef } from './soap/values.js'
import type {
  CustomFieldDef,
  CustomizationSpec,
  CustomizationSpecItem,
  MoRef,
  PropertyFilterSpec,
  RetrieveOptions,
  RetrieveResult,
  ServiceContent,
  UpdateSet,
  UserSession,
  VirtualMachineCloneSpec,
  WaitOptions,
} from './types.js'

export const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' }

/** Extra time on top of maxWaitSeconds before a WaitForUpdatesEx call counts as timed out. */
export const WAIT_TIMEOUT_MARGIN_MS = 30_000

function task(v: unknown, method: string): MoRef {
  return requireMoRef(v, `${method} result`)
}

// ---- ServiceInstance / SessionManager ------------------------------------------------------

export async function RetrieveServiceContent(rt: RoundTripper, opts?: CallOptions): Promise<ServiceContent> {
  return decodeServiceContent(await rt.invoke('RetrieveServiceContent', { _this: SERVICE_INSTANCE }, opts))
}

export async function CurrentTime(rt: RoundTripper, opts?: CallOptions): Promise<Date> {
  const v = await rt.invoke('CurrentTime', { _this: SERVICE_INSTANCE }, opts)
  const d = date(v)
  if (!d) throw new TypeError('CurrentTime: invalid dateTime')
  return d
}

export async function Login(
  rt: RoundTripper,
  req: { _this: MoRef; userName: string; password: string; locale?: string },
  opts?: CallOptions,
): Promise<UserSession> {
  const body = { _this: req._this, userName: req.userName, password: req.password, locale: req.locale }
  return decodeUserSession(await rt.invoke('Login', body, opts))
}

export async function Logout(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('Logout', { _this: req._this }, opts)
}

export async function SessionIsActive(
  rt: RoundTripper,
  req: { _this: MoRef; sessionID: string; userName: string },
  opts?: CallOptions,
): Promise<boolean> {
  const body = { _this: req._this, sessionID: req.sessionID, userName: req.userName }
  return bool(await rt.invoke('SessionIsActive', body, opts)) ?? false
}

// ---- PropertyCollector ------------------------------------------------------------------------

export async function RetrievePropertiesEx(
  rt: RoundTripper,
  req: { _this: MoRef; specSet: PropertyFilterSpec[]; options?: RetrieveOptions },
  opts?: CallOptions,
): Promise<RetrieveResult> {
  const body = {
    _this: req._this,
    specSet: req.specSet.map(encodePropertyFilterSpec),
    options: encodeRetrieveOptions(req.options),
  }
  return decodeRetrieveResult(await rt.invoke('RetrievePropertiesEx', body, opts))
}

export async function ContinueRetrievePropertiesEx(
  rt: RoundTripper,
  req: { _this: MoRef; token: string },
  opts?: CallOptions,
): Promise<RetrieveResult> {
  return decodeRetrieveResult(
    await rt.invoke('ContinueRetrievePropertiesEx', { _this: req._this, token: req.token }, opts),
  )
}

export async function CancelRetrievePropertiesEx(
  rt: RoundTripper,
  req: { _this: MoRef; token: string },
  opts?: CallOptions,
): Promise<void> {
  await rt.invoke('CancelRetrievePropertiesEx', { _this: req._this, token: req.token }, opts)
}

export async function CreatePropertyCollector(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<MoRef> {
  return requireMoRef(await rt.invoke('CreatePropertyCollector', { _this: req._this }, opts), 'CreatePropertyCollector')
}

export async function DestroyPropertyCollector(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('DestroyPropertyCollector', { _this: req._this }, opts)
}

export async function CreateFilter(
  rt: RoundTripper,
  req: { _this: MoRef; spec: PropertyFilterSpec; partialUpdates: boolean },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = { _this: req._this, spec: encodePropertyFilterSpec(req.spec), partialUpdates: req.partialUpdates }
  return requireMoRef(await rt.invoke('CreateFilter', body, opts), 'CreateFilter')
}

export async function DestroyPropertyFilter(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('DestroyPropertyFilter', { _this: req._this }, opts)
}

/**
 * Long-poll for changes. Resolves undefined when maxWaitSeconds passed without changes.
 * The call's HTTP timeout is maxWaitSeconds plus a margin unless opts.timeoutMs says otherwise.
 */
export async function WaitForUpdatesEx(
  rt: RoundTripper,
  req: { _this: MoRef; version?: string; options?: WaitOptions },
  opts: CallOptions = {},
): Promise<UpdateSet | undefined> {
  const body = {
    _this: req._this,
    version: req.version || undefined, // '' means "initial state": omit the element
    options: req.options && encodeWaitOptions(req.options),
  }
  const wait = req.options?.maxWaitSeconds
  const timeoutMs = opts.timeoutMs ?? (wait !== undefined ? wait * 1000 + WAIT_TIMEOUT_MARGIN_MS : undefined)
  return decodeUpdateSet(await rt.invoke('WaitForUpdatesEx', body, { ...opts, timeoutMs }))
}

export async function CancelWaitForUpdates(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('CancelWaitForUpdates', { _this: req._this }, opts)
}

// ---- EventManager ----------------------------------------------------------------------------

/** The parts of EventFilterSpec the service uses, in WSDL order. */
export interface EventFilterSpec {
  entity?: { entity: MoRef; recursion: 'self' | 'children' | 'all' | 'none' }
  time?: { beginTime?: Date; endTime?: Date }
  eventTypeId?: string[]
  maxCount?: number
}

function encodeEventFilter(f: EventFilterSpec): Record<string, unknown> {
  return {
    entity: f.entity && { entity: f.entity.entity, recursion: f.entity.recursion },
    time: f.time && { beginTime: f.time.beginTime, endTime: f.time.endTime },
    eventTypeId: f.eventTypeId,
    maxCount: f.maxCount,
  }
}

export async function CreateCollectorForEvents(
  rt: RoundTripper,
  req: { _this: MoRef; filter: EventFilterSpec },
  opts?: CallOptions,
): Promise<MoRef> {
  const v = await rt.invoke('CreateCollectorForEvents', { _this: req._this, filter: encodeEventFilter(req.filter) }, opts)
  return requireMoRef(v, 'CreateCollectorForEvents')
}

export async function SetCollectorPageSize(rt: RoundTripper, req: { _this: MoRef; maxCount: number }, opts?: CallOptions): Promise<void> {
  await rt.invoke('SetCollectorPageSize', { _this: req._this, maxCount: req.maxCount }, opts)
}

export async function DestroyCollector(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('DestroyCollector', { _this: req._this }, opts)
}

/** The events matching the filter (raw event objects, each with its `_type`). */
export async function QueryEvents(rt: RoundTripper, req: { _this: MoRef; filter: EventFilterSpec }, opts?: CallOptions): Promise<unknown[]> {
  return asArray(await rt.invoke('QueryEvents', { _this: req._this, filter: encodeEventFilter(req.filter) }, opts))
}

// ---- ViewManager ---------------------------------------------------------------------------

export async function CreateContainerView(
  rt: RoundTripper,
  req: { _this: MoRef; container: MoRef; type?: string[]; recursive: boolean },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = { _this: req._this, container: req.container, type: req.type, recursive: req.recursive }
  return requireMoRef(await rt.invoke('CreateContainerView', body, opts), 'CreateContainerView')
}

export async function CreateListView(
  rt: RoundTripper,
  req: { _this: MoRef; obj?: MoRef[] },
  opts?: CallOptions,
): Promise<MoRef> {
  return requireMoRef(await rt.invoke('CreateListView', { _this: req._this, obj: req.obj }, opts), 'CreateListView')
}

/** Returns the objects that could not be added (e.g. they no longer exist). */
export async function ModifyListView(
  rt: RoundTripper,
  req: { _this: MoRef; add?: MoRef[]; remove?: MoRef[] },
  opts?: CallOptions,
): Promise<MoRef[]> {
  const body = {
    _this: req._this,
    add: req.add?.length ? req.add : undefined,
    remove: req.remove?.length ? req.remove : undefined,
  }
  const res = await rt.invoke('ModifyListView', body, opts)
  return asArray(res).flatMap((r) => moRef(r) ?? [])
}

export async function DestroyView(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<void> {
  await rt.invoke('DestroyView', { _this: req._this }, opts)
}

// ---- VirtualMachine ----------------------------------------------------------------------

export async function CloneVM_Task(
  rt: RoundTripper,
  req: { _this: MoRef; folder: MoRef; name: string; spec: VirtualMachineCloneSpec },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = { _this: req._this, folder: req.folder, name: req.name, spec: encodeCloneSpec(req.spec) }
  return task(await rt.invoke('CloneVM_Task', body, opts), 'CloneVM_Task')
}

export async function CustomizeVM_Task(
  rt: RoundTripper,
  req: { _this: MoRef; spec: CustomizationSpec },
  opts?: CallOptions,
): Promise<MoRef> {
  return task(await rt.invoke('CustomizeVM_Task', { _this: req._this, spec: req.spec }, opts), 'CustomizeVM_Task')
}

export async function PowerOnVM_Task(
  rt: RoundTripper,
  req: { _this: MoRef; host?: MoRef },
  opts?: CallOptions,
): Promise<MoRef> {
  return task(await rt.invoke('PowerOnVM_Task', { _this: req._this, host: req.host }, opts), 'PowerOnVM_Task')
}

export async function PowerOffVM_Task(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<MoRef> {
  return task(await rt.invoke('PowerOffVM_Task', { _this: req._this }, opts), 'PowerOffVM_Task')
}

export async function CreateSnapshot_Task(
  rt: RoundTripper,
  req: { _this: MoRef; name: string; description?: string; memory: boolean; quiesce: boolean },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = {
    _this: req._this,
    name: req.name,
    description: req.description,
    memory: req.memory,
    quiesce: req.quiesce,
  }
  return task(await rt.invoke('CreateSnapshot_Task', body, opts), 'CreateSnapshot_Task')
}

// ---- VirtualMachineSnapshot ------------------------------------------------------------------

/** Removes one snapshot (its children are kept unless removeChildren); consolidate defaults to true. */
export async function RemoveSnapshot_Task(
  rt: RoundTripper,
  req: { _this: MoRef; removeChildren: boolean; consolidate?: boolean },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = { _this: req._this, removeChildren: req.removeChildren, consolidate: req.consolidate }
  return task(await rt.invoke('RemoveSnapshot_Task', body, opts), 'RemoveSnapshot_Task')
}

export async function RevertToSnapshot_Task(
  rt: RoundTripper,
  req: { _this: MoRef; host?: MoRef; suppressPowerOn?: boolean },
  opts?: CallOptions,
): Promise<MoRef> {
  const body = { _this: req._this, host: req.host, suppressPowerOn: req.suppressPowerOn }
  return task(await rt.invoke('RevertToSnapshot_Task', body, opts), 'RevertToSnapshot_Task')
}

// ---- ManagedEntity / ExtensibleManagedObject ------------------------------------------

export async function Destroy_Task(rt: RoundTripper, req: { _this: MoRef }, opts?: CallOptions): Promise<MoRef> {
  return task(await rt.invoke('Destroy_Task', { _this: req._this }, opts), 'Destroy_Task')
}

export async function Rename_Task(rt: RoundTripper, req: { _this: MoRef; newName: string }, opts?: CallOptions): Promise<MoRef> {
  return task(await rt.invoke('Rename_Task', { _this: req._this, newName: req.newName }, opts), 'Rename_Task')
}

/** ExtensibleManagedObject.setCustomValue: `key` is the custom field's name. */
export async function setCustomValue(
  rt: RoundTripper,
  req: { _this: MoRef; key: string; value: string },
  opts?: CallOptions,
): Promise<void> {
  await rt.invoke('setCustomValue', { _this: req._this, key: req.key, value: req.value }, opts)
}

// ---- CustomFieldsManager ---------------------------------------------------------------------

export async function AddCustomFieldDef(
  rt: RoundTripper,
  req: { _this: MoRef; name: string; moType?: string },
  opts?: CallOptions,
): Promise<CustomFieldDef> {
  const body = { _this: req._this, name: req.name, moType: req.moType }
  return decodeCustomFieldDef(await rt.invoke('AddCustomFieldDef', body, opts))
}

export async function SetField(
  rt: RoundTripper,
  req: { _this: MoRef; entity: MoRef; key: number; value: string },
  opts?: CallOptions,
): Promise<void> {
  await rt.invoke('SetField', { _this: req._this, entity: req.entity, key: req.key, value: req.value }, opts)
}

// ---- CustomizationSpecManager --------------------------------------------------------------

export async function GetCustomizationSpec(
  rt: RoundTripper,
  req: { _this: MoRef; name: string },
  opts?: CallOptions,
): Promise<CustomizationSpecItem> {
  return decodeCustomizationSpecItem(await rt.invoke('GetCustomizationSpec', { _this: req._this, name: req.name }, opts))
}

export async function DoesCustomizationSpecExist(
  rt: RoundTripper,
  req: { _this: MoRef; name: string },
  opts?: CallOptions,
): Promise<boolean> {
  return bool(await rt.invoke('DoesCustomizationSpecExist', { _this: req._this, name: req.name }, opts)) ?? false
}

// ---- SearchIndex ------------------------------------------------------------------------------

/** Resolves undefined when nothing matches. */
export async function FindByUuid(
  rt: RoundTripper,
  req: { _this: MoRef; datacenter?: MoRef; uuid: string; vmSearch: boolean; instanceUuid?: boolean },
  opts?: CallOptions,
): Promise<MoRef | undefined> {
  const body = {
    _this: req._this,
    datacenter: req.datacenter,
    uuid: req.uuid,
    vmSearch: req.vmSearch,
    instanceUuid: req.instanceUuid,
  }
  return moRef(await rt.invoke('FindByUuid', body, opts))
}

/** Resolves undefined when nothing matches. */
export async function FindByInventoryPath(
  rt: RoundTripper,
  req: { _this: MoRef; inventoryPath: string },
  opts?: CallOptions,
): Promise<MoRef | undefined> {
  return moRef(await rt.invoke('FindByInventoryPath', { _this: req._this, inventoryPath: req.inventoryPath }, opts))
}
