// VimClient: a logged-in vim25 session with typed convenience methods (like govmomi's object
// package), the PropertyCollector helpers (`property`) and the shared task watcher (`tasks`).
//
//   const client = await VimClient.connect({ url, username, password, insecure: true })
//   const task = await client.cloneVM(parent, folder, 'Capture01', spec)
//   const info = await client.tasks.watch(task) // info.result: the clone MoRef
//   await client.close()
//
// Every call goes through the session layer (session.ts): re-login on NotAuthenticated, retries
// for idempotent reads only. *_Task methods return the Task reference.

import * as methods from './methods.js'
import { PropertyHelper } from './property.js'
import { Session } from './session.js'
import type { RetryPolicy } from './session.js'
import { DEFAULT_API_VERSION, SoapTransport } from './soap/transport.js'
import type { CallObserver, CallOptions, RoundTripper, VimLogger } from './soap/transport.js'
import { decodeCustomFieldDef } from './decode.js'
import { asArray } from './soap/values.js'
import { TaskWatcher } from './task-watcher.js'
import { CustomizationWatcher } from './customization-events.js'
import type { TaskWatcherOptions } from './task-watcher.js'
import type {
  CustomFieldDef,
  CustomizationSpec,
  CustomizationSpecItem,
  MoRef,
  ServiceContent,
  VirtualMachineCloneSpec,
} from './types.js'

export interface ConnectOptions {
  /** `https://vcenter.example.com/sdk` (or without `/sdk`). Credentials in the URL are ignored. */
  url: string | URL
  username: string
  password: string
  /** Accept a self-signed/unknown certificate. */
  insecure?: boolean
  /** Default per-call timeout, ms (default 60 000). WaitForUpdatesEx gets maxWaitSeconds + margin. */
  timeoutMs?: number
  /** vim25 version for SOAPAction; default: the server's (vimServiceVersions.xml), else 7.0. */
  apiVersion?: string
  logger?: VimLogger
  retry?: RetryPolicy
  tasks?: TaskWatcherOptions
  /** Concurrent connections to this vCenter (default 64). */
  maxSockets?: number
  /** Told of every SOAP call once it has ended (metrics). Task durations: `tasks.onTaskFinished`. */
  onCall?: CallObserver
}

export interface SnapshotOptions {
  description?: string
  /** Include the memory state (default false). */
  memory?: boolean
  /** Quiesce the guest file system (default false). */
  quiesce?: boolean
}

export class VimClient {
  /** Session-aware RoundTripper: use it with the functions of methods.ts for anything not wrapped here. */
  readonly rt: RoundTripper
  readonly property: PropertyHelper
  readonly tasks: TaskWatcher
  /** Guest customization events, one EventHistoryCollector and one update loop for every VM waited for. */
  readonly customizations: CustomizationWatcher

  private constructor(
    readonly transport: SoapTransport,
    readonly session: Session,
    logger: VimLogger | undefined,
    taskOptions: TaskWatcherOptions | undefined,
  ) {
    this.rt = session
    const content = () => session.serviceContent
    this.property = new PropertyHelper(session, content, logger)
    this.tasks = new TaskWatcher(session, content, session, { logger, ...taskOptions })
    this.customizations = new CustomizationWatcher(session, session, content, {
      logger,
      maxWaitSeconds: taskOptions?.maxWaitSeconds,
    })
  }

  /** RetrieveServiceContent + Login. */
  static async connect(opts: ConnectOptions): Promise<VimClient> {
    const transport = new SoapTransport({
      url: opts.url,
      insecure: opts.insecure,
      timeoutMs: opts.timeoutMs,
      apiVersion: opts.apiVersion,
      logger: opts.logger,
      maxSockets: opts.maxSockets,
      onCall: opts.onCall,
    })
    try {
      if (!opts.apiVersion) transport.apiVersion = (await transport.fetchApiVersion()) ?? DEFAULT_API_VERSION
      const session = new Session(
        transport,
        { username: opts.username, password: opts.password },
        { retry: opts.retry, logger: opts.logger },
      )
      await session.start()
      return new VimClient(transport, session, opts.logger, opts.tasks)
    } catch (err) {
      transport.close()
      throw err
    }
  }

  get serviceContent(): ServiceContent {
    return this.session.serviceContent
  }

  /** SOAP calls sent so far (HTTP attempts, including retries and re-logins). */
  get callCount(): number {
    return this.transport.callCount
  }

  callsByMethod(): Record<string, number> {
    return this.transport.callsByMethod()
  }

  /** Stops the task watcher, logs out, closes the connection pool. */
  async close(): Promise<void> {
    try {
      await this.tasks.close()
      await this.customizations.close()
      await this.session.close()
    } finally {
      this.transport.close()
    }
  }

  // ---- virtual machines ---------------------------------------------------------------------

  /** CloneVM_Task: returns the Task; its result is the new VM. */
  cloneVM(vm: MoRef, folder: MoRef, name: string, spec: VirtualMachineCloneSpec, opts?: CallOptions): Promise<MoRef> {
    return methods.CloneVM_Task(this.rt, { _this: vm, folder, name, spec }, opts)
  }

  customizeVM(vm: MoRef, spec: CustomizationSpec, opts?: CallOptions): Promise<MoRef> {
    return methods.CustomizeVM_Task(this.rt, { _this: vm, spec }, opts)
  }

  powerOnVM(vm: MoRef, host?: MoRef, opts?: CallOptions): Promise<MoRef> {
    return methods.PowerOnVM_Task(this.rt, { _this: vm, host }, opts)
  }

  powerOffVM(vm: MoRef, opts?: CallOptions): Promise<MoRef> {
    return methods.PowerOffVM_Task(this.rt, { _this: vm }, opts)
  }

  createSnapshot(vm: MoRef, name: string, options: SnapshotOptions = {}, opts?: CallOptions): Promise<MoRef> {
    return methods.CreateSnapshot_Task(
      this.rt,
      {
        _this: vm,
        name,
        description: options.description,
        memory: options.memory ?? false,
        quiesce: options.quiesce ?? false,
      },
      opts,
    )
  }

  /** RemoveSnapshot_Task: removes this snapshot only (its children are kept), consolidating disks. */
  removeSnapshot(snapshot: MoRef, opts?: CallOptions): Promise<MoRef> {
    return methods.RemoveSnapshot_Task(this.rt, { _this: snapshot, removeChildren: false, consolidate: true }, opts)
  }

  /** RevertToSnapshot_Task: the VM goes back to this snapshot (and its power state then). */
  revertToSnapshot(snapshot: MoRef, opts?: CallOptions): Promise<MoRef> {
    return methods.RevertToSnapshot_Task(this.rt, { _this: snapshot }, opts)
  }

  /** Rename_Task on any managed entity. */
  rename(entity: MoRef, newName: string, opts?: CallOptions): Promise<MoRef> {
    return methods.Rename_Task(this.rt, { _this: entity, newName }, opts)
  }

  /** Destroy_Task on any managed entity (a VM must be powered off). */
  destroy(entity: MoRef, opts?: CallOptions): Promise<MoRef> {
    return methods.Destroy_Task(this.rt, { _this: entity }, opts)
  }

  // ---- custom attributes --------------------------------------------------------------------

  /** Sets the custom attribute named `key` on `entity` (the field must exist). */
  setCustomValue(entity: MoRef, key: string, value: string, opts?: CallOptions): Promise<void> {
    return methods.setCustomValue(this.rt, { _this: entity, key, value }, opts)
  }

  /** CustomFieldsManager.SetField: by field key rather than name. */
  setField(entity: MoRef, key: number, value: string, opts?: CallOptions): Promise<void> {
    return methods.SetField(this.rt, { _this: this.manager('customFieldsManager'), entity, key, value }, opts)
  }

  /** Defines a custom attribute; fails with DuplicateName when it exists. */
  addCustomFieldDef(name: string, moType?: string, opts?: CallOptions): Promise<CustomFieldDef> {
    return methods.AddCustomFieldDef(this.rt, { _this: this.manager('customFieldsManager'), name, moType }, opts)
  }

  /** All custom attribute definitions (maps the keys of `customValue` to names). */
  async customFieldDefs(opts?: CallOptions): Promise<CustomFieldDef[]> {
    const props = await this.property.retrieveOne(this.manager('customFieldsManager'), ['field'], opts)
    return asArray(props.field as unknown[]).map(decodeCustomFieldDef)
  }

  // ---- guest customization ------------------------------------------------------------------

  /** The spec item; `item.spec` can be passed unchanged to customizeVM() or a clone spec. */
  getCustomizationSpec(name: string, opts?: CallOptions): Promise<CustomizationSpecItem> {
    return methods.GetCustomizationSpec(this.rt, { _this: this.manager('customizationSpecManager'), name }, opts)
  }

  customizationSpecExists(name: string, opts?: CallOptions): Promise<boolean> {
    return methods.DoesCustomizationSpecExist(this.rt, { _this: this.manager('customizationSpecManager'), name }, opts)
  }

  // ---- search -------------------------------------------------------------------------------

  /** The VM whose config.instanceUuid is `uuid`, or undefined. */
  findVmByInstanceUuid(uuid: string, datacenter?: MoRef, opts?: CallOptions): Promise<MoRef | undefined> {
    return methods.FindByUuid(
      this.rt,
      { _this: this.manager('searchIndex'), datacenter, uuid, vmSearch: true, instanceUuid: true },
      opts,
    )
  }

  /** The VM whose BIOS UUID (config.uuid) is `uuid`, or undefined. */
  findVmByBiosUuid(uuid: string, datacenter?: MoRef, opts?: CallOptions): Promise<MoRef | undefined> {
    return methods.FindByUuid(
      this.rt,
      { _this: this.manager('searchIndex'), datacenter, uuid, vmSearch: true, instanceUuid: false },
      opts,
    )
  }

  /** E.g. `DC0/vm/Capture01`, or undefined. */
  findByInventoryPath(inventoryPath: string, opts?: CallOptions): Promise<MoRef | undefined> {
    return methods.FindByInventoryPath(this.rt, { _this: this.manager('searchIndex'), inventoryPath }, opts)
  }

  currentTime(opts?: CallOptions): Promise<Date> {
    return methods.CurrentTime(this.rt, opts)
  }

  private manager(name: 'customFieldsManager' | 'customizationSpecManager' | 'searchIndex'): MoRef {
    const ref = this.serviceContent[name]
    if (!ref) throw new Error(`this server has no ${name}`)
    return ref
  }
}
