/**
 * Service configuration, read from the environment. Pure: takes an env record, returns a typed
 * config or throws ConfigError naming the first bad setting, so start-up can stop with one clear line.
 * Scalar settings are read with env-schema (typed, bounded, defaulted); the rules across settings
 * (the vCenter URL, the JWT key, the secrets key) are written out below.
 */
import { createPublicKey } from 'node:crypto'
import path from 'node:path'
import envSchema from 'env-schema'
import { DEFAULT_SECRET_PATTERNS, decodeKey } from '../domain/secrets.js'

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256' | 'EdDSA'

export interface JwtConfig {
  /** The only algorithm accepted with a static key; tokens signed with any other are refused. */
  algorithm: JwtAlgorithm
  /** HS256 shared secret, or the PEM public key for the asymmetric algorithms; empty with `jwksUrl`. */
  key: string
  /**
   * JWT_JWKS_URL: the identity provider's key set; the token's `kid` picks the key (RS256, ES256 or
   * EdDSA), fetched again when a `kid` is unknown (the provider rotated its keys).
   */
  jwksUrl?: string
  issuer?: string
  audience?: string
  /** JWT_MAX_AGE in seconds: a token issued (`iat`) longer ago is refused, and `iat` is required. */
  maxAgeSeconds?: number
  /** The claim holding the caller's teams, an array of strings (JWT_TEAMS_CLAIM, default `groups`). */
  teamsClaim: string
}

export interface VcenterConfig {
  url: string
  username: string
  password: string
  insecure: boolean
  /**
   * PARENT_FOLDERS: inventory paths of the folders (subfolders included) whose VMs may be parents,
   * e.g. /DC0/vm/Templates; unset: any VM may (parentFoldersWarning).
   */
  parentFolders?: string[]
}

export interface Limits {
  /** Operations at once against one vCenter, across every replica. */
  perVcenter: number
  /** Operations at once per ESXi host. */
  perHost: number
  /** Operations at once per datastore. */
  perDatastore: number
}

export interface SecretsConfig {
  /** SECRETS_KEY (base64 of 32 bytes). Unset only in embedded mode: a key kept in DATA_DIR is used. */
  key?: string
  /** SECRETS_KEY_PREVIOUS: older keys, still accepted to open what they sealed (rotation). */
  previousKeys: string[]
  /** SECRET_ATTRIBUTES: attribute names containing any of these (case-insensitive) are secrets. */
  attributePatterns: string[]
}

export interface Config {
  port: number
  host: string
  /** Unset: an embedded PostgreSQL is started under dataDir. */
  databaseUrl?: string
  dataDir: string
  secrets: SecretsConfig
  /** ATTRIBUTE_SYNC_MINUTES: how often clones' attributes are read back from vCenter; 0: never. */
  attributeSyncMinutes: number
  /** DRIFT_CHECK_MINUTES: how often every active pool is compared with vCenter; 0: never (on demand only). */
  driftCheckMinutes: number
  vcenter: VcenterConfig
  jwt: JwtConfig
  logLevel: string
  limits: Limits
  nodeEnv: string
  /** Typical time for one linked clone (clone, customize, power on, attributes), for estimates. */
  estimatedSecondsPerClone: number
  /**
   * JOB_RETRY_LIMIT and JOB_RETRY_DELAY_SECONDS: how often a job whose attempt failed for a passing
   * reason is tried again, and the first pause before it (doubling from there; 0: at once, no backoff).
   */
  jobRetries: JobRetries
  /** CORS_ORIGINS: the browser origins (scheme://host[:port]) allowed to call the API; none by default. */
  corsOrigins: string[]
  /** WEBHOOK_ALLOWED_HOSTS: webhook hosts allowed despite resolving to private addresses (and to use http). */
  webhookAllowedHosts: string[]
  metrics: MetricsConfig
  /** WEBHOOK_RETRY_SECONDS: the first retry delay of a failed delivery, doubling each time (default 30). */
  webhookRetrySeconds: number
  /** WEBHOOK_DISABLE_AFTER_HOURS: a subscription failing this long without a success is disabled (default 72). */
  webhookDisableAfterHours: number
  /** How long a clone waits for its guest's customization after power-on, unless its deployment says. */
  customizationTimeoutMinutes: number
  /** Typical time of a guest's customization after power-on (Sysprep, Linux prep), for estimates. */
  estimatedGuestSeconds: number
  /** Requests per caller (token's sub, else IP) to /v1 and /graphql: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS; max 0: no limit. */
  rateLimit: { max: number; windowSeconds: number }
}

export interface JobRetries {
  limit: number
  delaySeconds: number
}

export interface MetricsConfig {
  /** METRICS_PORT: /metrics on a listener of its own, without a token; unset: on the main port, with one. */
  port?: number
  /** METRICS_TOKEN: a static bearer token that may read /metrics on the main port (besides a JWT with metrics:read). */
  token?: string
}

export class ConfigError extends Error {
  constructor(readonly setting: string, problem: string) {
    super(`Invalid configuration: ${setting} ${problem}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function required(env: Env, name: string): string {
  const value = env[name]
  if (value === undefined || value.trim() === '') throw new ConfigError(name, 'is required but not set')
  return value
}

/**
 * One setting read by env-schema (ajv: type coercion, bounds, the default for an unset or empty
 * value); a failure becomes a ConfigError naming the setting, worded by `problem` after the
 * failed keyword.
 */
function setting<T>(env: Env, name: string, schema: Record<string, unknown>, problem: (keyword: string) => string): T {
  const raw = env[name]
  // Shells and compose pass an unset setting as an empty string: the default then.
  const data = raw === undefined || raw === '' ? {} : { [name]: raw }
  try {
    return envSchema<Record<string, T>>({ schema: { type: 'object', properties: { [name]: schema } }, data, env: false })[name] as T
  } catch (err) {
    throw new ConfigError(name, problem((err as { errors?: { keyword?: string }[] }).errors?.[0]?.keyword ?? ''))
  }
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  // Digits only: ajv's coercion would also take "1e3", "0x10" or " 12".
  if (raw !== undefined && raw !== '' && !/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`)
  return setting<number>(env, name, { type: 'integer', minimum: min, maximum: max, default: fallback }, (keyword) =>
    keyword === 'minimum' || keyword === 'maximum' ? `must be between ${min} and ${max}, got ${raw}` : `must be a whole number, got "${raw}"`,
  )
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  // ajv coerces "true" and "false"; 1 and 0 are accepted too.
  const normalized = raw === '1' ? 'true' : raw === '0' ? 'false' : raw
  return setting<boolean>({ [name]: normalized }, name, { type: 'boolean', default: fallback }, () => `must be true or false, got "${raw}"`)
}

function vcenterUrl(env: Env): string {
  const raw = required(env, 'VCENTER_URL')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError('VCENTER_URL', `must be a URL like https://vcenter.example.com/sdk, got "${raw}"`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('VCENTER_URL', `must use https (or http), got "${url.protocol}"`)
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/sdk'
  return url.toString()
}

function jwt(env: Env): JwtConfig {
  const secret = env.JWT_SECRET
  const publicKey = env.JWT_PUBLIC_KEY
  const jwksUrl = env.JWT_JWKS_URL || undefined
  const issuer = env.JWT_ISSUER || undefined
  const audience = env.JWT_AUDIENCE || undefined
  const teamsClaim = env.JWT_TEAMS_CLAIM || 'groups'
  if (!/^[A-Za-z0-9_:./-]{1,100}$/.test(teamsClaim)) {
    throw new ConfigError('JWT_TEAMS_CLAIM', `must be a claim name (letters, digits, _ : . / -), got "${teamsClaim}"`)
  }
  const keys = (['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL'] as const).filter((name) => env[name])
  if (keys.length > 1) throw new ConfigError(keys[0]!, `and ${keys.slice(1).join(' and ')} are ${keys.length === 2 ? 'both' : 'all'} set; set exactly one`)
  // A provider's key signs tokens for many services: the audience keeps another service's token out.
  if ((publicKey || jwksUrl) && !audience) {
    throw new ConfigError('JWT_AUDIENCE', `is required with ${publicKey ? 'JWT_PUBLIC_KEY' : 'JWT_JWKS_URL'} (this service's name in the tokens' "aud")`)
  }
  const maxAgeSeconds = jwtMaxAge(env.JWT_MAX_AGE)
  const common = { issuer, audience, teamsClaim, ...(maxAgeSeconds === undefined ? {} : { maxAgeSeconds }) }
  if (secret) {
    // RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
    if (Buffer.byteLength(secret) < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes long')
    return { algorithm: 'HS256', key: secret, ...common }
  }
  if (publicKey) {
    const key = publicKey.replace(/\\n/g, '\n')
    const algorithm = (env.JWT_ALGORITHM ?? detectAsymmetricAlgorithm(key)) as JwtAlgorithm
    if (!['RS256', 'ES256', 'EdDSA'].includes(algorithm)) {
      throw new ConfigError('JWT_ALGORITHM', `must be RS256, ES256 or EdDSA with JWT_PUBLIC_KEY, got "${algorithm}"`)
    }
    return { algorithm, key, ...common }
  }
  if (jwksUrl) {
    let url: URL | undefined
    try {
      url = new URL(jwksUrl)
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.hash) {
      throw new ConfigError('JWT_JWKS_URL', `must be a URL like https://idp.example.com/.well-known/jwks.json, got "${jwksUrl}"`)
    }
    // The algorithm comes from the key the token's kid names, among RS256, ES256 and EdDSA.
    return { algorithm: 'RS256', key: '', jwksUrl: url.toString(), ...common }
  }
  throw new ConfigError('JWT_SECRET', 'or JWT_PUBLIC_KEY or JWT_JWKS_URL is required but none is set')
}

/** `3600`, `90s`, `30m`, `1h` or `7d`, in seconds. */
function jwtMaxAge(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined
  const match = /^(\d{1,7})([smhd]?)$/.exec(raw.trim())
  const seconds = match ? Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'] : 0
  if (!match || seconds < 1 || seconds > 365 * 86400) {
    throw new ConfigError('JWT_MAX_AGE', `must be a duration like 3600, 90s, 30m, 1h or 7d (at most 365d), got "${raw}"`)
  }
  return seconds
}

/** Reads the key type from the PEM so that the accepted algorithm follows the key, never the token. */
function detectAsymmetricAlgorithm(pem: string): JwtAlgorithm {
  let keyType: string | undefined
  try {
    keyType = createPublicKey(pem).asymmetricKeyType
  } catch {
    throw new ConfigError('JWT_PUBLIC_KEY', 'is not a PEM public key')
  }
  if (keyType === 'rsa') return 'RS256'
  if (keyType === 'ec') return 'ES256'
  if (keyType === 'ed25519') return 'EdDSA'
  throw new ConfigError('JWT_PUBLIC_KEY', `has unsupported key type "${keyType}"`)
}

function secrets(env: Env, databaseUrl: string | undefined): SecretsConfig {
  const key = env.SECRETS_KEY || undefined
  if (key) checkKey('SECRETS_KEY', key)
  else if (databaseUrl) {
    throw new ConfigError('SECRETS_KEY', 'is required when DATABASE_URL is set (32 random bytes in base64: openssl rand -base64 32)')
  }
  const previousKeys = (env.SECRETS_KEY_PREVIOUS ?? '').split(/[\s,]+/).filter(Boolean)
  for (const previous of previousKeys) checkKey('SECRETS_KEY_PREVIOUS', previous)
  const patterns = env.SECRET_ATTRIBUTES === undefined
    ? [...DEFAULT_SECRET_PATTERNS]
    : env.SECRET_ATTRIBUTES.split(',').map((p) => p.trim()).filter(Boolean)
  return { key, previousKeys, attributePatterns: patterns }
}

function checkKey(setting: string, value: string): void {
  try {
    decodeKey(value)
  } catch (err) {
    throw new ConfigError(setting, (err as Error).message)
  }
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const logLevel = setting<string>(env, 'LOG_LEVEL', { type: 'string', enum: LOG_LEVELS, default: 'info' }, () =>
    `must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`,
  )
  const databaseUrl = env.DATABASE_URL || undefined
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must start with postgres:// or postgresql://')
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databaseUrl,
    dataDir: path.resolve(cwd, env.DATA_DIR || '.data'),
    secrets: secrets(env, databaseUrl),
    attributeSyncMinutes: integer(env, 'ATTRIBUTE_SYNC_MINUTES', 15, 0, 60),
    driftCheckMinutes: integer(env, 'DRIFT_CHECK_MINUTES', 5, 0, 60),
    vcenter: {
      url: vcenterUrl(env),
      username: required(env, 'VCENTER_USERNAME'),
      password: required(env, 'VCENTER_PASSWORD'),
      insecure: boolean(env, 'VCENTER_INSECURE', false),
      parentFolders: parentFolders(env),
    },
    jwt: jwt(env),
    logLevel,
    limits: {
      perVcenter: integer(env, 'LIMIT_VCENTER_OPERATIONS', 20, 1, 640),
      perHost: integer(env, 'LIMIT_HOST_OPERATIONS', 8, 1, 128),
      perDatastore: integer(env, 'LIMIT_DATASTORE_OPERATIONS', 32, 1, 128),
    },
    nodeEnv: env.NODE_ENV || 'development',
    estimatedSecondsPerClone: integer(env, 'ESTIMATED_CLONE_SECONDS', 20, 1, 3600),
    jobRetries: {
      limit: integer(env, 'JOB_RETRY_LIMIT', 8, 0, 50),
      delaySeconds: integer(env, 'JOB_RETRY_DELAY_SECONDS', 5, 0, 3600),
    },
    corsOrigins: corsOrigins(env),
    webhookAllowedHosts: list(env, 'WEBHOOK_ALLOWED_HOSTS').map((h) => h.toLowerCase()),
    metrics: metrics(env),
    webhookRetrySeconds: integer(env, 'WEBHOOK_RETRY_SECONDS', 30, 1, 3600),
    webhookDisableAfterHours: integer(env, 'WEBHOOK_DISABLE_AFTER_HOURS', 72, 1, 24 * 30),
    customizationTimeoutMinutes: integer(env, 'CUSTOMIZATION_TIMEOUT_MINUTES', 30, 1, 720),
    estimatedGuestSeconds: integer(env, 'ESTIMATED_GUEST_SECONDS', 120, 0, 86400),
    rateLimit: {
      max: integer(env, 'RATE_LIMIT_MAX', 1200, 0, 1_000_000),
      windowSeconds: integer(env, 'RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86400),
    },
  }
}

/** Absolute inventory paths ("/DC0/vm/Templates"), kept without the trailing slash; undefined when unset. */
function parentFolders(env: Env): string[] | undefined {
  const paths = list(env, 'PARENT_FOLDERS').map((p) => p.replace(/\/+$/, ''))
  for (const p of paths) {
    if (!/^\/[^/]/.test(p) || p.split('/').slice(1).some((part) => part === '')) {
      throw new ConfigError('PARENT_FOLDERS', `must be a comma-separated list of inventory paths like /DC0/vm/Templates, got "${p}"`)
    }
  }
  return paths.length > 0 ? [...new Set(paths)] : undefined
}

/** The warning start-up logs when any VM in vCenter may be used as a parent. */
export function parentFoldersWarning(config: Pick<Config, 'vcenter'>): string | undefined {
  return config.vcenter.parentFolders
    ? undefined
    : 'PARENT_FOLDERS is not set: any VM in vCenter can be used as a parent (prepared, powered off, its snapshots removed or reverted); set it to the folders of your parents'
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '').split(',').map((v) => v.trim()).filter(Boolean)
}

/** Each an origin as browsers send it: scheme, host and port, no path. */
function corsOrigins(env: Env): string[] {
  return list(env, 'CORS_ORIGINS').map((origin) => {
    let url: URL | undefined
    try {
      url = new URL(origin)
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin.replace(/\/$/, '')) {
      throw new ConfigError('CORS_ORIGINS', `must be a comma-separated list of origins like https://portal.example.com, got "${origin}"`)
    }
    return url.origin
  })
}

function metrics(env: Env): MetricsConfig {
  const port = env.METRICS_PORT ? integer(env, 'METRICS_PORT', 0, 1, 65535) : undefined
  if (port !== undefined && port === integer(env, 'PORT', 3000, 0, 65535)) {
    throw new ConfigError('METRICS_PORT', `must differ from PORT (${port})`)
  }
  const token = env.METRICS_TOKEN || undefined
  if (token !== undefined && Buffer.byteLength(token) < 32) throw new ConfigError('METRICS_TOKEN', 'must be at least 32 bytes long')
  return { port, token }
}
