/**
 * Limits on what one query may ask, checked before anything runs, as GraphQL validation rules (so
 * mercurius caches the verdict per query text). Each refusal has its own code (graphql/errors.ts).
 *
 * - depth: fields nested at most 10 deep;
 * - aliases: at most 15 aliased fields (`a1: clones(...) a2: clones(...)` repeats work);
 * - cost: the number of records (deployments, clones, parents, steps) the query may return, at most
 *   100,000 (a page of 20 pools with their clones, up to 2,000 each, and each clone's deployment, pass).
 *   Lists count at their largest: a connection at its `limit` (or deprecated `first`; a variable: the
 *   largest page), a deployment's clones at 2,000... Listing 1,000 clones with their deployment costs
 *   2,000; each of those clones' deployment's clones again would cost 2,000,000 and is refused;
 * - introspection: refused in production;
 * - mutations: one root field per mutation (each starts vCenter work or changes records: one audited
 *   write per request, and no batch of deployments hidden in one request).
 *
 * A union counts its members' fields through the fragments that select them (`... on Deployment`).
 *
 * Introspection fields (`__schema`, `__type`) count for neither depth nor cost: their size is bounded
 * by the schema's, GraphiQL's own introspection query is 13 deep, and production refuses them anyway.
 */
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isUnionType,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type GraphQLUnionType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
  type VariableDefinitionNode,
} from 'graphql'
import { MAX_POOL_SIZE } from '../domain/pool.js'
import { MAX_CLONES_PER_DEPLOYMENT } from '../domain/plan.js'
import { POOL_DEPLOYMENTS_SHOWN } from './loaders.js'
import { refusal } from './errors.js'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pagination.js'

export const LIMITS = { depth: 10, aliases: 15, cost: 100_000, mutations: 1 } as const

/** Types whose every instance counts one toward the cost: records read from the database or vCenter. */
const RECORD_TYPES = new Set(['Deployment', 'Clone', 'Parent', 'CloneStep', 'AttributeHistoryEntry', 'Pool'])

/** The largest a list field can be (connections: their page size, see listSize). */
const LIST_SIZES: Record<string, number> = {
  'Deployment.clones': MAX_CLONES_PER_DEPLOYMENT,
  'Clone.steps': 10,
  'Pool.clones': MAX_POOL_SIZE,
  'Pool.deployments': POOL_DEPLOYMENTS_SHOWN,
  'DeploymentPlan.clones': MAX_CLONES_PER_DEPLOYMENT,
}
const OTHER_LIST_SIZE = 20

/** A record type, or a union whose members may be records (a deployment or its plan). */
function isRecordType(type: NonNullable<ReturnType<typeof getNamedType>>): boolean {
  return RECORD_TYPES.has(type.name) || (isUnionType(type) && type.getTypes().some((member) => RECORD_TYPES.has(member.name)))
}

const isIntrospection = (name: string) => name === '__schema' || name === '__type'

interface Walk {
  fragments: Map<string, FragmentDefinitionNode>
  variables: readonly VariableDefinitionNode[]
  /** To find the member a fragment on a union selects (`... on Deployment`); without it, unions cost nothing inside. */
  schema?: GraphQLSchema
}

type Composite = GraphQLObjectType | GraphQLUnionType

/** The type a fragment's selections apply to: its type condition, else the enclosing type. */
function fragmentType(walk: Walk, enclosing: Composite, condition: { name: { value: string } } | undefined): Composite {
  const named = condition ? walk.schema?.getType(condition.name.value) : undefined
  return named && (isObjectType(named) || isUnionType(named)) ? named : enclosing
}

function fragmentsOf(context: ValidationContext): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const def of context.getDocument().definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
  }
  return fragments
}

/** Nesting depth of fields; a fragment spread inside itself counts once (NoFragmentCycles reports it). */
export function selectionDepth(set: SelectionSetNode, walk: Walk, inFragments: ReadonlySet<string> = new Set()): number {
  let deepest = 0
  for (const selection of set.selections) {
    let depth: number
    if (selection.kind === Kind.FIELD) {
      if (isIntrospection(selection.name.value)) continue
      depth = 1 + (selection.selectionSet ? selectionDepth(selection.selectionSet, walk, inFragments) : 0)
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      depth = selectionDepth(selection.selectionSet, walk, inFragments)
    } else {
      const name = selection.name.value
      const fragment = walk.fragments.get(name)
      if (!fragment || inFragments.has(name)) continue
      depth = selectionDepth(fragment.selectionSet, walk, new Set([...inFragments, name]))
    }
    deepest = Math.max(deepest, depth)
  }
  return deepest
}

/**
 * `limit: 10` -> 10; `limit: $n` -> $n's default, else the largest page; no `limit` -> the default
 * page. The deprecated `first` wins when given, as in the resolvers (graphql/connection.ts).
 */
function pageSizeArgument(args: readonly { name: { value: string }; value: ValueNode }[] | undefined, walk: Walk): number {
  const given = (name: string) => args?.find((a) => a.name.value === name && a.value.kind !== Kind.NULL)?.value
  const first = given('first') ?? given('limit')
  if (!first) return DEFAULT_PAGE_SIZE
  if (first.kind === Kind.INT) return Math.min(Number(first.value), MAX_PAGE_SIZE)
  if (first.kind === Kind.VARIABLE) {
    const fallback = walk.variables.find((v) => v.variable.name.value === first.name.value)?.defaultValue
    return fallback?.kind === Kind.INT ? Math.min(Number(fallback.value), MAX_PAGE_SIZE) : MAX_PAGE_SIZE
  }
  return DEFAULT_PAGE_SIZE
}

/**
 * Records a selection may return, each list at its largest. `pageSize` is the enclosing connection's
 * `limit`, which sizes its `edges` and `nodes`.
 */
export function selectionCost(
  set: SelectionSetNode,
  type: Composite,
  walk: Walk,
  multiplier = 1,
  pageSize = DEFAULT_PAGE_SIZE,
  inFragments: ReadonlySet<string> = new Set(),
): number {
  let cost = 0
  for (const selection of set.selections) {
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = fragmentType(walk, type, selection.typeCondition)
      cost += selectionCost(selection.selectionSet, on, walk, multiplier, pageSize, inFragments)
      continue
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const name = selection.name.value
      const fragment = walk.fragments.get(name)
      if (!fragment || inFragments.has(name)) continue
      const on = fragmentType(walk, type, fragment.typeCondition)
      cost += selectionCost(fragment.selectionSet, on, walk, multiplier, pageSize, new Set([...inFragments, name]))
      continue
    }
    // A union's own fields are __typename only: its members' fields come through fragments (above).
    if (isUnionType(type)) continue
    const field = type.getFields()[selection.name.value]
    if (!field || isIntrospection(selection.name.value)) continue // unknown fields: FieldsOnCorrectType reports them
    const named = getNamedType(field.type)
    let size = 1
    if (isListType(getNullableType(field.type))) {
      const coordinate = `${type.name}.${field.name}`
      size = type.name.endsWith('Connection') ? pageSize : (LIST_SIZES[coordinate] ?? OTHER_LIST_SIZE)
    }
    const count = multiplier * size
    if (isRecordType(named)) cost += count
    if (selection.selectionSet && (isObjectType(named) || isUnionType(named))) {
      const innerPage = field.args.some((a) => a.name === 'limit') ? pageSizeArgument(selection.arguments, walk) : pageSize
      cost += selectionCost(selection.selectionSet, named, walk, count, innerPage, inFragments)
    }
  }
  return cost
}

function operationType(context: ValidationContext, op: OperationDefinitionNode): GraphQLObjectType | undefined | null {
  const schema = context.getSchema()
  if (op.operation === 'query') return schema.getQueryType()
  if (op.operation === 'mutation') return schema.getMutationType()
  return schema.getSubscriptionType()
}

const operationName = (op: OperationDefinitionNode) => (op.name ? `"${op.name.value}"` : 'The query')

export function depthLimit(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(op) {
      const depth = selectionDepth(op.selectionSet, { fragments: fragmentsOf(context), variables: [] })
      if (depth > max) {
        context.reportError(
          refusal('QUERY_TOO_DEEP', `${operationName(op)} nests fields ${depth} deep; the limit is ${max}`, {
            nodes: op,
            details: { depth, limit: max },
          }),
        )
      }
    },
  })
}

export function aliasLimit(max: number): ValidationRule {
  return (context) => {
    let aliases = 0
    const visitor: ASTVisitor = {
      Field(field) {
        if (field.alias) aliases += 1
      },
      Document: {
        leave(document) {
          if (aliases > max) {
            context.reportError(
              refusal('TOO_MANY_ALIASES', `The query uses ${aliases} aliases; the limit is ${max}`, {
                nodes: document,
                details: { aliases, limit: max },
              }),
            )
          }
        },
      },
    }
    return visitor
  }
}

export function costLimit(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(op) {
      const type = operationType(context, op)
      if (!type) return
      const walk = { fragments: fragmentsOf(context), variables: op.variableDefinitions ?? [], schema: context.getSchema() }
      const cost = selectionCost(op.selectionSet, type, walk)
      if (cost > max) {
        context.reportError(
          refusal(
            'QUERY_TOO_COSTLY',
            `${operationName(op)} may return up to ${cost} records; the limit is ${max}. Ask for smaller pages (limit) or fewer nested lists`,
            { nodes: op, details: { cost, limit: max } },
          ),
        )
      }
    },
  })
}

export const noIntrospection: ValidationRule = (context) => ({
  Field(field) {
    if (isIntrospection(field.name.value)) {
      context.reportError(
        refusal('INTROSPECTION_DISABLED', `Introspection (${field.name.value}) is disabled in production`, { nodes: field }),
      )
    }
  },
})

/** A string literal with NUL (`"\u0000"` in the query text): PostgreSQL cannot store it, and no name needs it. */
export const noNulStrings: ValidationRule = (context) => ({
  StringValue(node) {
    if (node.value.includes('\u0000')) {
      context.reportError(refusal('GRAPHQL_VALIDATION_FAILED', 'A string in the query contains a NUL character (\\u0000)', { nodes: node }))
    }
  },
})

/** The root fields of a selection, through fragments (`__typename` does nothing: not counted). */
function rootFields(set: SelectionSetNode, walk: Walk, inFragments: ReadonlySet<string> = new Set()): string[] {
  return set.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === '__typename' ? [] : [selection.name.value]
    if (selection.kind === Kind.INLINE_FRAGMENT) return rootFields(selection.selectionSet, walk, inFragments)
    const name = selection.name.value
    const fragment = walk.fragments.get(name)
    return !fragment || inFragments.has(name) ? [] : rootFields(fragment.selectionSet, walk, new Set([...inFragments, name]))
  })
}

/** At most `max` root fields in a mutation. */
export function mutationLimit(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(op) {
      if (op.operation !== 'mutation') return
      const fields = rootFields(op.selectionSet, { fragments: fragmentsOf(context), variables: [] })
      if (fields.length > max) {
        context.reportError(
          refusal('TOO_MANY_MUTATIONS', `${operationName(op)} asks for ${fields.length} mutations (${fields.join(', ')}); send one mutation per request`, {
            nodes: op,
            details: { mutations: fields.length, limit: max },
          }),
        )
      }
    },
  })
}

/** The rules added to the specification's own. */
export function hardeningRules(options: { introspection: boolean }): ValidationRule[] {
  const rules = [depthLimit(LIMITS.depth), aliasLimit(LIMITS.aliases), costLimit(LIMITS.cost), mutationLimit(LIMITS.mutations), noNulStrings]
  return options.introspection ? rules : [...rules, noIntrospection]
}

/** A refusal's GraphQLError, or graphql-js's own, given the GRAPHQL_VALIDATION_FAILED code if it has none. */
export function withCode(err: GraphQLError): GraphQLError {
  if (typeof err.extensions?.code === 'string') return err
  return new GraphQLError(err.message, { nodes: err.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })
}
