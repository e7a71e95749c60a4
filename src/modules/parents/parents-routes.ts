import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger } from 'fastify'
import type { ParentVm, PreparationRow } from './parent-service.js'
import type { SnapshotNode } from '../../domain/snapshots.js'
import type { SnapshotAction, SnapshotUsage } from './parent-service.js'
import {
  getPreparationSchema,
  listPreparationsSchema,
  listSnapshotsSchema,
  prepareParentSchema,
  removeSnapshotSchema,
  revertSnapshotSchema,
} from './parents-schemas.js'
import { linkNext, pageOfList } from '../../http/pagination.js'
import type { TeamMember } from '../../domain/teams.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function presentPreparation(p: PreparationRow) {
  return {
    id: p.id,
    parent: { name: p.parentName, moref: p.parentMoref, instanceUuid: p.parentInstanceUuid },
    status: p.status,
    recompose: p.recompose,
    snapshot: {
      name: p.snapshotName,
      description: p.description,
      moref: p.snapshotMoref,
      createdAt: iso(p.snapshotCreatedAt),
    },
    steps: p.steps,
    deploymentIds: p.deploymentIds,
    error: p.error,
    requester: p.requester,
    team: p.team,
    ticket: p.ticket,
    requestId: p.requestId,
    createdAt: p.createdAt.toISOString(),
    startedAt: iso(p.startedAt),
    finishedAt: iso(p.finishedAt),
  }
}

function presentSnapshot(s: SnapshotNode | SnapshotUsage) {
  return {
    moref: s.moref,
    name: s.name,
    description: s.description,
    createdAt: s.createdAt ?? null,
    parentSnapshot: s.parentMoref ?? null,
    current: s.current,
    depth: s.depth,
    ...('liveClones' in s ? { liveClones: s.liveClones, pools: s.pools } : {}),
  }
}

function presentParent(p: ParentVm) {
  return { name: p.name, moref: p.moref, instanceUuid: p.instanceUuid ?? null, powerState: p.powerState, currentSnapshot: p.currentSnapshot ?? null }
}

const location = (p: PreparationRow) => `/v1/parents/${encodeURIComponent(p.parentName)}/preparations/${p.id}`

const parentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const prepareOptions = {
    schema: prepareParentSchema,
    // Every field is optional, the body too: no body is an empty one.
    preValidation: async (request: { body: unknown }) => {
      request.body ??= {}
    },
    onRequest: app.requireScope('parents:write'),
  }
  app.post('/parents/:name/prepare', prepareOptions, async (request, reply) => {
    const { preparation, created } = await app.parents.prepare(request.params.name, request.body, request.principal!)
    if (created) request.log.info({ preparationId: preparation.id, parent: preparation.parentName }, 'parent preparation accepted')
    // A repeated request answers with the earlier preparation: 202 while it runs, 200 once done.
    return reply
      .code(preparation.finishedAt ? 200 : 202)
      .header('Location', location(preparation))
      .send(presentPreparation(preparation))
  })

  app.get('/parents/:name/preparations', { schema: listPreparationsSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const page = pageOfList(await app.parents.preparations(request.params.name, request.principal!), request.query, (p) => p.id)
    linkNext(request, reply, page.nextCursor)
    return { preparations: page.items.map(presentPreparation), nextCursor: page.nextCursor }
  })

  app.get('/parents/:name/preparations/:id', { schema: getPreparationSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    return presentPreparation(await app.parents.preparation(request.params.name, request.params.id, request.principal!))
  })

  app.get('/parents/:name/snapshots', { schema: listSnapshotsSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const { parent, snapshots } = await app.parents.snapshots(request.params.name, request.principal!)
    const page = pageOfList(snapshots, request.query, (s) => s.moref)
    linkNext(request, reply, page.nextCursor)
    return { parent: presentParent(parent), snapshots: page.items.map(presentSnapshot), nextCursor: page.nextCursor }
  })

  app.delete(
    '/parents/:name/snapshots/:snapshot',
    { schema: removeSnapshotSchema, onRequest: app.requireScope('parents:write') },
    async (request) => snapshotAction(request.params, request.log, 'remove', request.principal!, request.query.ticket),
  )

  app.post(
    '/parents/:name/snapshots/:snapshot/revert',
    { schema: revertSnapshotSchema, preValidation: prepareOptions.preValidation, onRequest: app.requireScope('parents:write') },
    async (request) => snapshotAction(request.params, request.log, 'revert', request.principal!, request.body.ticket),
  )

  /**
   * Removes a snapshot or reverts the parent to it (refused while live clones use it), and answers what
   * was done. Neither makes a record of its own: the ticket is recorded on the request's audit entry.
   */
  async function snapshotAction(
    params: { name: string; snapshot: string },
    log: FastifyBaseLogger,
    action: SnapshotAction,
    caller: TeamMember,
    ticket: string | undefined,
  ) {
    const done = await app.parents.snapshotAction(params.name, params.snapshot, action, caller)
    const outcome = action === 'remove' ? ('removed' as const) : ('reverted' as const)
    log.info({ parent: done.parent.name, snapshot: done.snapshot.moref, task: done.taskMoref, ticket }, `snapshot ${outcome}`)
    return {
      action: outcome,
      snapshot: presentSnapshot(done.snapshot),
      taskMoref: done.taskMoref ?? null,
      parent: presentParent(done.parent),
      ticket: ticket ?? null,
    }
  }
}

export default parentRoutes
