/** Parents: the VMs in vCenter that can serve as parents, with their readiness, and their clones. */
import { DEFAULT_CUSTOMIZATION_ATTRIBUTE } from '../../domain/attributes.js'
import type { ParentFacts } from '../../domain/plan.js'
import type { GraphqlContext } from '../../graphql/context.js'
import { parentReadiness, type Readiness } from './readiness.js'
import { canSee, visibleTeams } from '../../domain/teams.js'

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
    "The clones the service made from it, by name."
    clones: [Clone!]!
  }

  extend type Query {
    "Read from vCenter in bulk; VCENTER_UNAVAILABLE when it cannot be reached."
    parents(customizationAttribute: String = "${DEFAULT_CUSTOMIZATION_ATTRIBUTE}"): [Parent!]!
  }
`

interface ParentNode extends Readiness {
  facts: ParentFacts
  customizationSpecExists: boolean
}

export const queries = {
  async parents(_: unknown, args: { customizationAttribute?: string | null }, context: GraphqlContext): Promise<ParentNode[]> {
    const attribute = args.customizationAttribute ?? DEFAULT_CUSTOMIZATION_ATTRIBUTE
    const listed = await context.app.parents.listParents(attribute)
    return listed.map(({ parent, customizationSpecExists }) => ({
      facts: parent,
      customizationSpecExists,
      ...parentReadiness(parent, attribute, customizationSpecExists),
    }))
  },
}

export const resolvers = {
  Parent: {
    name: (p: ParentNode) => p.facts.name,
    moref: (p: ParentNode) => p.facts.moref,
    snapshot: (p: ParentNode) =>
      p.facts.currentSnapshot
        ? { name: p.facts.currentSnapshot.name, moref: p.facts.currentSnapshot.moref, createdAt: p.facts.currentSnapshot.createdAt ?? null }
        : null,
    hasNonPersistentDisk: (p: ParentNode) => p.facts.hasNonPersistentDisk,
    // Only the caller's teams' clones (the loader reads every team's, batched across parents).
    clones: async (p: ParentNode, _: unknown, context: GraphqlContext) => {
      const teams = visibleTeams(context.principal!)
      return (await context.loaders.clonesOfParent.load(p.facts.moref)).filter((c) => canSee(teams, c.team))
    },
  },
}
