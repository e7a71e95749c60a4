/**
 * Types shared by the modules. Enum values are GraphQL's UPPER_CASE spelling of the stored (and REST)
 * values: `powering_on` is POWERING_ON, `scale-down` is SCALE_DOWN, converted by toEnum/fromEnum.
 */
import { countByStatus } from '../domain/progress.js'
import { DateTime } from './scalars.js'

export const toEnum = (value: string) => value.toUpperCase().replaceAll('-', '_')
export const fromEnum = <T extends string>(value: string | null | undefined): T | undefined =>
  value ? (value.toLowerCase() as T) : undefined
/** `powering_on` -> `poweringOn`: a status as a field name. */
export const toFieldName = (value: string) => value.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

/** Every clone status the domain knows, in its order: the schema follows the domain. */
export const CLONE_STATUSES = Object.keys(countByStatus([]))

export const typeDefs = /* GraphQL */ `
  scalar DateTime

  enum DeploymentStatus {
    QUEUED
    RUNNING
    SUCCEEDED
    FAILED
  }

  "A clone's step; READY and FAILED are final."
  enum CloneStatus {
    ${CLONE_STATUSES.map(toEnum).join('\n    ')}
  }

  "A VM by name and managed object reference, as recorded when the deployment was accepted."
  type ParentRef {
    name: String!
    moref: String!
  }

  type SnapshotRef {
    name: String!
    moref: String!
    "When the snapshot was taken, when known."
    createdAt: DateTime
  }

  "A custom attribute. A secret's value (SECRET_ATTRIBUTES, default: names with Password) reads *** without the secrets:read scope."
  type Attribute {
    name: String!
    value: String!
    secret: Boolean!
  }

  type Warning {
    code: String!
    message: String!
  }

  "Why a clone or a deployment failed; faultType is the vSphere fault when vCenter refused."
  type RecordedError {
    code: String!
    message: String!
    faultType: String
  }

  type PageInfo {
    hasNextPage: Boolean!
    "Pass as after to read the next page."
    endCursor: String
  }
`

export const resolvers = { DateTime }
