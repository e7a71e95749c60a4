/** A clone's provenance (provenance.ts): ticket -> deployment -> parent -> snapshot -> VM. */
import { Type } from '@fastify/type-provider-typebox'
import { Nullable } from '../../http/common-schemas.js'

const DateTime = Type.String({ format: 'date-time' })

/** The other record of a refresh's or recompose's pair: the clone it replaced, or that replaced it. */
const LinkedClone = Type.Object({
  cloneId: Type.String(),
  status: Type.String(),
  vm: Type.Object({ name: Type.String(), moref: Nullable(Type.String()), instanceUuid: Type.String() }),
  deployment: Type.Object({ id: Type.String(), kind: Type.String() }),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({ name: Type.String(), moref: Type.String(), createdAt: Nullable(DateTime) }),
  destroyedAt: Nullable(DateTime),
})

export const Provenance = Type.Object({
  replaces: Type.Optional(Nullable(LinkedClone)),
  replacedBy: Type.Optional(Nullable(LinkedClone)),
  ticket: Nullable(Type.String()),
  deployment: Type.Object({ id: Type.String(), requester: Type.String(), requestedAt: DateTime }),
  parent: Type.Object({ name: Type.String(), moref: Type.String(), instanceUuid: Nullable(Type.String()) }),
  snapshot: Type.Object({ name: Type.String(), moref: Type.String(), createdAt: Nullable(DateTime) }),
  vm: Type.Object({
    name: Type.String(),
    moref: Nullable(Type.String()),
    instanceUuid: Type.String(),
    vanishedAt: Nullable(DateTime),
  }),
})
