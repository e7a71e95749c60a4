/** Schemas of the space reports (reports-routes.ts). */
import { Type, type Static } from '@fastify/type-provider-typebox'
import { ErrorResponse, authErrors } from '../../http/common-schemas.js'

const GB = (description: string) => Type.Number({ minimum: 0, maximum: 1_000_000, description })

export const SpaceGroup = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 120, description: 'e.g. the parent, "Capture"' }),
    count: Type.Integer({ minimum: 0, maximum: 100_000, description: 'Clones of the parent' }),
    provisionedGB: GB("Capacity of the parent's disks"),
    usedGB: GB("Space the parent's thin disks use"),
    deltaGB: GB("Each linked clone's own delta"),
  },
  { additionalProperties: false },
)

export const ForecastBody = Type.Object(
  { groups: Type.Array(SpaceGroup, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
)
export type ForecastBody = Static<typeof ForecastBody>

const Saving = Type.Object({ gb: Type.Number(), percent: Type.Number() })
const Savings = Type.Object({ versusTraditional: Saving, versusThin: Saving })
const Figures = {
  traditionalGB: Type.Number({ description: 'count x provisioned' }),
  thinGB: Type.Number({ description: 'count x used' }),
  linkedGB: Type.Number({ description: 'used (the parent, once) + count x delta' }),
}
const GroupSpace = Type.Object({
  name: Type.String(),
  count: Type.Integer(),
  provisionedGB: Type.Number(),
  usedGB: Type.Number(),
  deltaGB: Type.Number(),
  ...Figures,
  savings: Savings,
})
const Total = Type.Object({ count: Type.Integer(), ...Figures, savings: Savings })

export const forecastSchema = {
  operationId: 'forecastSpace',
  summary: 'Space of linked clones against full clones, forecast from sizes',
  tags: ['reports'],
  body: ForecastBody,
  response: { 200: Type.Object({ unit: Type.Literal('GB'), groups: Type.Array(GroupSpace), total: Total }), 400: ErrorResponse, ...authErrors },
}

export const spaceReportSchema = {
  operationId: 'getSpaceReport',
  summary: "Space of the caller's teams' clones and their parents (admin: every team's), measured from vCenter",
  tags: ['reports'],
  response: {
    200: Type.Object({
      measuredAt: Type.String({ format: 'date-time' }),
      unit: Type.Literal('GB'),
      parents: Type.Array(
        Type.Object({
          moref: Type.String(),
          fullClones: Type.Integer({ description: 'Clones found to be full copies (SILENT_FULL_CLONE), each counted as a thin full copy' }),
          ...GroupSpace.properties,
        }),
      ),
      total: Total,
      missingClones: Type.Integer(),
    }),
    ...authErrors,
    503: ErrorResponse,
  },
}

export const spaceChartSchema = {
  operationId: 'getSpaceChart',
  summary: "The measured figures as an SVG bar chart per parent (the caller's teams' clones)",
  tags: ['reports'],
  produces: ['image/svg+xml'],
  response: { 200: Type.String({ description: 'image/svg+xml' }), ...authErrors, 503: ErrorResponse },
}
