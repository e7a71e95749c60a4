// Typed request objects -> wire objects whose keys are in WSDL sequence order (see types.ts).
// vCenter rejects elements out of order, so request data objects are always built here, field by
// field, rather than serialized in whatever order a caller happened to write them.
// `undefined` fields are dropped by the serializer.

import { xsdString } from './soap/xml.js'
import type {
  ObjectSpec,
  OptionValue,
  PropertyFilterSpec,
  PropertySpec,
  RetrieveOptions,
  SelectionSpec,
  TraversalSpec,
  VirtualMachineCloneSpec,
  VirtualMachineConfigSpec,
  VirtualMachineRelocateSpec,
  WaitOptions,
} from './types.js'

export function encodeSelectionSpec(s: SelectionSpec | TraversalSpec): Record<string, unknown> {
  if (s._type === 'TraversalSpec') {
    // xsi:type is needed: selectSet is declared as the base type SelectionSpec.
    return {
      _type: 'TraversalSpec',
      name: s.name,
      type: s.type,
      path: s.path,
      skip: s.skip ?? false,
      selectSet: s.selectSet?.map(encodeSelectionSpec),
    }
  }
  return { name: s.name }
}

export function encodePropertySpec(p: PropertySpec): Record<string, unknown> {
  return { type: p.type, all: p.all, pathSet: p.pathSet }
}

export function encodeObjectSpec(o: ObjectSpec): Record<string, unknown> {
  return { obj: o.obj, skip: o.skip, selectSet: o.selectSet?.map(encodeSelectionSpec) }
}

export function encodePropertyFilterSpec(spec: PropertyFilterSpec): Record<string, unknown> {
  return {
    propSet: spec.propSet.map(encodePropertySpec),
    objectSet: spec.objectSet.map(encodeObjectSpec),
    reportMissingObjectsInResults: spec.reportMissingObjectsInResults,
  }
}

/** RetrieveOptions is a required parameter: always an element, possibly empty. */
export function encodeRetrieveOptions(o: RetrieveOptions = {}): Record<string, unknown> {
  return { maxObjects: o.maxObjects }
}

export function encodeWaitOptions(o: WaitOptions): Record<string, unknown> {
  return { maxWaitSeconds: o.maxWaitSeconds, maxObjectUpdates: o.maxObjectUpdates }
}

export function encodeOptionValue(o: OptionValue): Record<string, unknown> {
  // OptionValue.value is xsd:anyType: a bare string would be rejected without its xsi:type.
  return { key: o.key, value: typeof o.value === 'string' ? xsdString(o.value) : o.value }
}

export function encodeRelocateSpec(s: VirtualMachineRelocateSpec): Record<string, unknown> {
  return { folder: s.folder, datastore: s.datastore, diskMoveType: s.diskMoveType, pool: s.pool, host: s.host }
}

export function encodeConfigSpec(s: VirtualMachineConfigSpec): Record<string, unknown> {
  return {
    name: s.name,
    uuid: s.uuid,
    instanceUuid: s.instanceUuid,
    annotation: s.annotation,
    numCPUs: s.numCPUs,
    numCoresPerSocket: s.numCoresPerSocket,
    memoryMB: s.memoryMB,
    deviceChange: s.deviceChange,
    extraConfig: s.extraConfig?.map(encodeOptionValue),
  }
}

export function encodeCloneSpec(s: VirtualMachineCloneSpec): Record<string, unknown> {
  return {
    location: encodeRelocateSpec(s.location),
    template: s.template ?? false,
    config: s.config && encodeConfigSpec(s.config),
    customization: s.customization, // a parsed CustomizationSpec: already in wire order
    powerOn: s.powerOn ?? false,
    snapshot: s.snapshot,
    memory: s.memory,
  }
}
