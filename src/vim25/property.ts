// PropertyCollector helpers (like govmomi's property.Collector and view.ContainerView.Retrieve):
// bulk reads in as few calls as possible, paging through RetrievePropertiesEx.

import * as methods from './methods.js'
import { faultObject, isFault } from './soap/faults.js'
import type { CallOptions, RoundTripper, VimLogger } from './soap/transport.js'
import { unwrap } from './soap/values.js'
import type { MissingProperty, MoRef, ObjectContent, PropertyFilterSpec, ServiceContent } from './types.js'

export interface ObjectProps {
  obj: MoRef
  /**
   * Property values by path, unwrapped (see soap/values.ts unwrap): strings for scalars and
   * enums, `{ type, value }` for references, arrays for ArrayOf*, data objects as parsed.
   * Unset properties are absent.
   */
  props: Record<string, unknown>
  /** Properties the server could not read (e.g. NoPermission). */
  missing?: MissingProperty[]
}

export interface RetrieveOpts extends CallOptions {
  /** Page size hint for RetrievePropertiesEx (the server may return fewer per page). */
  maxObjects?: number
}

function toObjectProps(o: ObjectContent): ObjectProps {
  const props: Record<string, unknown> = {}
  for (const p of o.propSet) props[p.name] = unwrap(p.val)
  return o.missingSet.length ? { obj: o.obj, props, missing: o.missingSet } : { obj: o.obj, props }
}

export class PropertyHelper {
  constructor(
    private readonly rt: RoundTripper,
    private readonly content: () => ServiceContent,
    private readonly logger?: VimLogger,
  ) {}

  /** RetrievePropertiesEx on the session's default collector, following continuation tokens. */
  async retrieve(specSet: PropertyFilterSpec[], opts: RetrieveOpts = {}): Promise<ObjectProps[]> {
    const pc = this.content().propertyCollector
    const { maxObjects, ...callOpts } = opts
    let page = await methods.RetrievePropertiesEx(this.rt, { _this: pc, specSet, options: { maxObjects } }, callOpts)
    const out = page.objects.map(toObjectProps)
    while (page.token) {
      page = await methods.ContinueRetrievePropertiesEx(this.rt, { _this: pc, token: page.token }, callOpts)
      out.push(...page.objects.map(toObjectProps))
    }
    return out
  }

  /** Properties of one object. Throws ManagedObjectNotFound (VimFault) when it does not exist. */
  async retrieveOne(ref: MoRef, paths: string[], opts?: CallOptions): Promise<Record<string, unknown>> {
    const [first] = await this.retrieve(
      [{ propSet: [{ type: ref.type, pathSet: paths }], objectSet: [{ obj: ref, skip: false }] }],
      opts,
    )
    return first?.props ?? {}
  }

  /** Properties of many objects (of any types) in one call. Objects that do not exist are left out. */
  async retrieveMany(refs: MoRef[], paths: string[], opts?: RetrieveOpts): Promise<ObjectProps[]> {
    if (refs.length === 0) return []
    const types = [...new Set(refs.map((r) => r.type))]
    const found = await this.retrieve(
      [
        {
          propSet: types.map((type) => ({ type, pathSet: paths })),
          objectSet: refs.map((obj) => ({ obj, skip: false })),
          // Without this, one deleted object fails the whole call with ManagedObjectNotFound.
          reportMissingObjectsInResults: true,
        },
      ],
      opts,
    )
    return found.filter((o) => !o.missing?.some((m) => m.faultType === 'ManagedObjectNotFound'))
  }

  /**
   * All objects of `type` under `container` (e.g. every VirtualMachine under the root folder)
   * with the given properties: CreateContainerView + paged RetrievePropertiesEx + DestroyView.
   */
  async listByType(
    container: MoRef,
    type: string,
    paths: string[],
    recursive = true,
    opts: RetrieveOpts = {},
  ): Promise<ObjectProps[]> {
    const { maxObjects: _maxObjects, ...callOpts } = opts
    // A container view belongs to the session: if a re-login happens in between, the view is gone
    // (ManagedObjectNotFound on it) and the listing starts over once, in the new session.
    for (let attempt = 1; ; attempt++) {
      const view = await methods.CreateContainerView(
        this.rt,
        { _this: this.content().viewManager, container, type: [type], recursive },
        callOpts,
      )
      let viewGone = false
      try {
        return await this.retrieve(
          [
            {
              propSet: [{ type, pathSet: paths }],
              objectSet: [
                {
                  obj: view,
                  skip: true,
                  selectSet: [{ _type: 'TraversalSpec', type: 'ContainerView', path: 'view', skip: false }],
                },
              ],
            },
          ],
          opts,
        )
      } catch (err) {
        viewGone = isFault(err, 'ManagedObjectNotFound') && faultObject(err)?.value === view.value
        if (attempt < 2 && viewGone) continue
        throw err
      } finally {
        if (!viewGone) await methods.DestroyView(this.rt, { _this: view }).catch((err: unknown) => {
          this.logger?.debug({ err: (err as Error).message }, 'vim25 DestroyView failed')
        })
      }
    }
  }
}
