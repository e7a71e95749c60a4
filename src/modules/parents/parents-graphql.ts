/** Parents: the VMs in vCenter that can serve as parents, with their readiness, and their clones. */
import { DEFAULT_CUSTOMIZATION_ATTRIBUTE } from '../../domain/attributes.js'
import type { ParentFacts } from '../../domain/plan.js'
import type { GraphqlContext } from '../../graphql/context.js'
import { parentReadiness, type Readiness } from './readiness.js'
import { canSee, visibleTeams } from '../../domain/teams.js'
import { PAGE_ARGS, connectionResolvers, connectionTypeDefs, paginate, paginateList, pageRequest, type PageArgs } from '../../graphql/connection.js'
import { compareKeys } from '../../graphql/pagination.js'
import { CLONE_CURSOR_PARTS, cloneCursorAfter, cloneCursorKey, type CloneRow } from '../clones/attribute-service.js'
import { cloneListKey, compareCloneListKeys } from '../../domain/clone-order.js'

export const typeDefs = /* GraphQL */ `
  type Problem {
    code: String!
    message: String!
  }

  "A VM that can serve as a parent: it names a customization spec and is not a clone itself."
  type Parent {
    name: String!
    moref: String!
    "Its current snapshot: what linked clones are made from."
    snapshot: SnapshotRef
    "The spec named in its customization attribute."
    customizationSpec: String
    customizationSpecExists: Boolean!
    hasNonPersistentDisk: Boolean!
    "True when deployLinkedClones would accept this parent."
    ready: Boolean!
    "Why it is not ready, with the codes deployLinkedClones would refuse with."
    problems: [Problem!]!
    "What deployLinkedClones would warn about."
    warnings: [Warning!]!
    "The caller's teams' clones the service made from it, by name (cursors as the clones list's)."
    clones(${PAGE_ARGS}): CloneConnection!
  }

  ${connectionTypeDefs('Parent')}

  extend type Query {
    """
    Read from vCenter in bulk, then paged by name (the cursor holds the last name); VCENTER_UNAVAILABLE
    when it cannot be reached.
    """
    parents(customizationAttribute: String = "${DEFAULT_CUSTOMIZATION_ATTRIBUTE}", ${PAGE_ARGS}): ParentConnection!
  }
`

interface ParentNode extends Readiness {
  facts: ParentFacts
  customizationSpecExists: boolean
}

/** Parents page by name, then moref (two VMs may share a name). */
const parentKey = (p: ParentNode) => [p.facts.name, p.facts.moref]

export const queries = {
  async parents(_: unknown, args: PageArgs & { customizationAttribute?: string | null }, context: GraphqlContext) {
    const attribute = args.customizationAttribute ?? DEFAULT_CUSTOMIZATION_ATTRIBUTE
    const listed = await context.app.parents.listParents(attribute)
    const all: ParentNode[] = listed.map(({ parent, customizationSpecExists }) => ({
      facts: parent,
      customizationSpecExists,
      ...parentReadiness(parent, attribute, customizationSpecExists),
    }))
    all.sort((a, b) => compareKeys(parentKey(a), parentKey(b)))
    return paginateList(args, all, parentKey, 2)
  },
}

export const resolvers = {
  ParentConnection: connectionResolvers,
  Parent: {
    name: (p: ParentNode) => p.facts.name,
    moref: (p: ParentNode) => p.facts.moref,
    snapshot: (p: ParentNode) =>
      p.facts.currentSnapshot
        ? { name: p.facts.currentSnapshot.name, moref: p.facts.currentSnapshot.moref, createdAt: p.facts.currentSnapshot.createdAt ?? null }
        : null,
    hasNonPersistentDisk: (p: ParentNode) => p.facts.hasNonPersistentDisk,
    // Only the caller's teams' clones (the loader reads every team's, batched across parents).
    // Read whole through the loader (one query for every parent of the page), paged here.
    clones: async (p: ParentNode, args: PageArgs, context: GraphqlContext) => {
      const teams = visibleTeams(context.principal!)
      const mine = (await context.loaders.clonesOfParent.load(p.facts.moref)).filter((c) => canSee(teams, c.team))
      // The clones list's order and cursors (numbers within a prefix: Capture2 before Capture10).
      const sorted = [...mine].sort((a: CloneRow, b: CloneRow) => compareCloneListKeys(cloneListKey(a), cloneListKey(b)))
      const { cursorField } = pageRequest(args)
      return paginate(args, {
        keyLength: CLONE_CURSOR_PARTS,
        read: (limit, after) => {
          const from = cloneCursorAfter(after, cursorField)
          return (from ? sorted.filter((c) => compareCloneListKeys(cloneListKey(c), from) > 0) : sorted).slice(0, limit)
        },
        cursorKey: cloneCursorKey,
        count: async () => sorted.length,
      })
    },
  },
}
