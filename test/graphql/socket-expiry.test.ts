/**
 * A GraphQL WebSocket lives no longer than its token: subscribed with a token expiring in about two
 * seconds, the socket is closed by the server with 4401 once the token has expired.
 */
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { TOKEN_EXPIRED_CLOSE_CODE } from '../../src/graphql/socket-expiry.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { gql, listen, WsClient } from '../helpers/graphql.js'

let api: TestService
let url: string

t.before(async () => {
  api = await startTestService({ runWorkers: false })
  url = await listen(api.app)
})
t.teardown(() => api?.stop())

const PROGRESS = `subscription Progress($id: ID!) { deploymentProgress(id: $id) { kind deploymentId status } }`

t.test('the socket is closed when its token expires', async (t) => {
  // No workers: the deployment stays queued and the subscription open.
  const deployed = await gql(api, `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ... on Deployment { id } } }`, {
    input: { parent: 'Tmpl Verification 1.0', count: 1, startNumber: 901 },
  })
  t.equal(deployed.statusCode, 200, JSON.stringify(deployed.body.errors))
  const id = deployed.body.data!.deployLinkedClones.id as string

  const shortLived = createSigner({ key: api.secret, algorithm: 'HS256', expiresIn: 2000 })({ sub: 'portal-user', scope: 'deployments:read' })
  const client = await WsClient.connect(url)
  t.teardown(() => client.socket.close())
  client.send({ type: 'connection_init', payload: { authorization: `Bearer ${shortLived}` } })
  await client.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  client.send({ type: 'subscribe', id: '1', payload: { query: PROGRESS, variables: { id } } })
  const [snapshot] = (await client.until((m) => m.some((x) => x.type === 'next'), 10_000)).filter((m) => m.type === 'next')
  t.match(snapshot!.payload.data.deploymentProgress, { kind: 'SNAPSHOT', deploymentId: id })

  await client.untilClosed(30_000)
  t.equal(client.closed?.code, TOKEN_EXPIRED_CLOSE_CODE, 'closed by the server as unauthorized')
  t.notOk(client.messages.some((m) => m.type === 'error'), 'no error before the close')

  // A socket whose token lives on stays open meanwhile.
  const other = await WsClient.connect(url)
  t.teardown(() => other.socket.close())
  other.send({ type: 'connection_init', payload: { authorization: `Bearer ${api.token('deployments:read')}` } })
  await other.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  other.send({ type: 'subscribe', id: '1', payload: { query: PROGRESS, variables: { id } } })
  await other.until((m) => m.some((x) => x.type === 'next'), 10_000)
  t.equal(other.closed, undefined, 'a valid token keeps its socket')
})
